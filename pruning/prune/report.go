package prune

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// Measurement is what a model costs and how well it does: counts from
// pruning/metrics, accuracy on a test set, and measured latency per batch size.
type Measurement struct {
	Params, NonZero, MACs, NonZeroMACs, DenseBytes, SparseBytes int64
	// Accuracy in percent; NaN without a test set.
	Accuracy float64
	// Latency is the median wall time of one Run per batch size; SparseLatency the
	// same with the executor's sparse kernels allowed (empty when not measured).
	Latency, SparseLatency map[int]time.Duration
}

// MeasureConfig configures Measure.
type MeasureConfig struct {
	// Batches are the batch sizes timed; none means no timing.
	Batches []int
	// Sparse also times the pruned model with graph.WithSparse: CSR kernels where the
	// engine measures them faster.
	Sparse bool
	// MinTime is spent per timing at least; 0 means 300ms.
	MinTime time.Duration
	// Threads for the executor; 0 means GOMAXPROCS.
	Threads int
}

// Measure counts and evaluates g; latencies are left empty (see MeasurePair).
func Measure(ctx context.Context, g *graph.Graph, test *data.Dataset) (*Measurement, error) {
	r, err := metrics.Measure(g)
	if err != nil {
		return nil, fmt.Errorf("prune: measure: %w", err)
	}
	m := &Measurement{Params: r.Total.Params, NonZero: r.Total.NonZero, MACs: r.Total.MACs, NonZeroMACs: r.Total.NonZeroMACs,
		DenseBytes: r.Total.DenseBytes, SparseBytes: r.Total.SparseBytes, Accuracy: math.NaN(),
		Latency: map[int]time.Duration{}, SparseLatency: map[int]time.Duration{}}
	if test != nil {
		acc, _, _, err := train.Evaluate(ctx, g, test)
		if err != nil {
			return nil, fmt.Errorf("prune: measure: %w", err)
		}
		m.Accuracy = 100 * acc
	}
	return m, nil
}

// DeviceOptions compiles a model as a device runs a deployed one (the agent's
// executor): on threads threads (0: all cores), weights constant, packed and
// transformed once, and the executor's own choices (Winograd, sharing the second
// core, CSR) timed at the first run. Latencies meant to speak for a device use it.
func DeviceOptions(threads int) []graph.Option {
	return []graph.Option{graph.WithThreads(threads), graph.WithConstantWeights(true)}
}

// MeasurePair measures before and after (see Measure) and times both side by side, so
// that load on a shared machine hits both alike, each compiled as a device agent
// compiles a deployed model (DeviceOptions).
func MeasurePair(ctx context.Context, before, after *graph.Graph, test *data.Dataset, cfg MeasureConfig) (*Measurement, *Measurement, error) {
	mb, err := Measure(ctx, before, test)
	if err != nil {
		return nil, nil, err
	}
	ma, err := Measure(ctx, after, test)
	if err != nil {
		return nil, nil, err
	}
	opts := DeviceOptions(cfg.Threads)
	for _, b := range cfg.Batches {
		runs := []Timed{{G: before, Opts: opts}, {G: after, Opts: opts}}
		sparse := cfg.Sparse
		if sparse {
			runs = append(runs, Timed{G: after, Opts: append(append([]graph.Option(nil), opts...), graph.WithSparse(true))})
		}
		lat, err := Latencies(ctx, runs, b, cfg.MinTime)
		if err != nil {
			return nil, nil, err
		}
		mb.Latency[b], ma.Latency[b] = lat[0], lat[1]
		if sparse {
			ma.SparseLatency[b] = lat[2]
		}
	}
	return mb, ma, nil
}

// Timed is one graph to time with its executor options.
type Timed struct {
	G    *graph.Graph
	Opts []graph.Option
}

// Latencies is the median time of one inference Run of each graph at the given batch
// size on a fixed input. The graphs run in interleaved rounds until every one has
// filled minTime (0 means 300ms), so that their ratios are measured side by side.
func Latencies(ctx context.Context, runs []Timed, batch int, minTime time.Duration) ([]time.Duration, error) {
	if batch < 1 {
		return nil, fmt.Errorf("prune: latency: batch %d < 1", batch)
	}
	if minTime <= 0 {
		minTime = 300 * time.Millisecond
	}
	type bound struct {
		ex      *graph.Executor
		in, out map[string]*tensor.Tensor
		samples []time.Duration
		total   time.Duration
	}
	bs := make([]*bound, len(runs))
	for i, r := range runs {
		g := r.G
		if len(g.Inputs) != 1 {
			return nil, fmt.Errorf("prune: latency: want one graph input, got %d", len(g.Inputs))
		}
		ex, err := graph.Compile(g, r.Opts...)
		if err != nil {
			return nil, fmt.Errorf("prune: latency: %w", err)
		}
		shape := append([]int{batch}, g.Inputs[0].Shape[1:]...)
		for j, d := range shape {
			if d < 1 {
				return nil, fmt.Errorf("prune: latency: input dimension %d is dynamic", j)
			}
		}
		x := tensor.New(shape...)
		for j := range x.Data {
			x.Data[j] = float32(j%17) / 17
		}
		bs[i] = &bound{ex: ex, in: map[string]*tensor.Tensor{g.Inputs[0].Name: x}, out: map[string]*tensor.Tensor{}}
		for range 3 {
			if err := ex.RunInto(ctx, bs[i].in, bs[i].out); err != nil {
				return nil, fmt.Errorf("prune: latency: %w", err)
			}
		}
	}
	for {
		done := true
		for _, b := range bs {
			if b.total < minTime || len(b.samples) < 5 {
				done = false
			}
		}
		if done {
			break
		}
		for _, b := range bs {
			for range 3 {
				t0 := time.Now()
				if err := b.ex.RunInto(ctx, b.in, b.out); err != nil {
					return nil, fmt.Errorf("prune: latency: %w", err)
				}
				d := time.Since(t0)
				b.samples = append(b.samples, d)
				b.total += d
			}
		}
	}
	out := make([]time.Duration, len(bs))
	for i, b := range bs {
		slices.Sort(b.samples)
		out[i] = b.samples[len(b.samples)/2]
	}
	return out, nil
}

// WriteComparison prints before and after side by side with the ratio.
func WriteComparison(w io.Writer, before, after *Measurement) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tbefore\tafter\tratio\t")
	row := func(name string, b, a int64) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", name, b, a, ratio(float64(b), float64(a)))
	}
	row("params", before.Params, after.Params)
	row("nonzero params", before.NonZero, after.NonZero)
	row("MACs", before.MACs, after.MACs)
	row("nonzero MACs", before.NonZeroMACs, after.NonZeroMACs)
	fmt.Fprintf(tw, "bytes (dense)\t%s\t%s\t%s\t\n", metrics.ByteSize(before.DenseBytes), metrics.ByteSize(after.DenseBytes), ratio(float64(before.DenseBytes), float64(after.DenseBytes)))
	fmt.Fprintf(tw, "bytes (CSR)\t%s\t%s\t%s\t\n", metrics.ByteSize(before.SparseBytes), metrics.ByteSize(after.SparseBytes), ratio(float64(before.SparseBytes), float64(after.SparseBytes)))
	if !math.IsNaN(before.Accuracy) && !math.IsNaN(after.Accuracy) {
		fmt.Fprintf(tw, "accuracy\t%.2f%%\t%.2f%%\t%+.2f pp\t\n", before.Accuracy, after.Accuracy, after.Accuracy-before.Accuracy)
	}
	for _, b := range sortedBatches(before.Latency) {
		fmt.Fprintf(tw, "latency batch %d (dense)\t%s\t%s\t%s\t\n", b, dur(before.Latency[b]), dur(after.Latency[b]),
			ratio(float64(before.Latency[b]), float64(after.Latency[b])))
		if s, ok := after.SparseLatency[b]; ok {
			fmt.Fprintf(tw, "latency batch %d (sparse kernels)\t%s\t%s\t%s\t\n", b, dur(before.Latency[b]), dur(s),
				ratio(float64(before.Latency[b]), float64(s)))
		}
	}
	return tw.Flush()
}

func ratio(b, a float64) string {
	if a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", b/a)
}

func dur(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func sortedBatches(m map[int]time.Duration) []int {
	var out []int
	for b := range m {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}
