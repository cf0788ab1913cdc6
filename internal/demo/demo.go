// Package demo runs fleetprune's whole loop on this machine: it trains (or loads) a
// LeNet-5 base model on MNIST, starts an in-process fleet with three device classes
// played by local agents under real, different CPU limits, lets the coordinator tune
// a variant per class against the class's SLO on the agents' own measurements and
// roll it out in canary stages, and prints one table per class.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/rollouts"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/stack"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
	"github.com/fleetprune/fleetprune/rollout"
)

// Config configures a demo run. Zero fields take the defaults.
type Config struct {
	// Dir keeps the trained base model between runs; each run's fleet state lives in
	// a fresh folder below it.
	Dir string
	// TrainSamples and Epochs size the base model's training.
	TrainSamples, Epochs int
	// AgentsPerClass is how many local agents play each class.
	AgentsPerClass int
	// HTTPAddr serves the coordinator's API and dashboard while the demo runs ("-":
	// none).
	HTTPAddr string
	// Timeout bounds the whole run.
	Timeout time.Duration
	Out     io.Writer
	Log     *slog.Logger
}

// Defaults of Config.
const (
	DefaultDir            = ".fleetprune/demo"
	DefaultTrainSamples   = 20000
	DefaultEpochs         = 1
	DefaultAgentsPerClass = 2
	DefaultTimeout        = 20 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.TrainSamples <= 0 {
		c.TrainSamples = DefaultTrainSamples
	}
	if c.Epochs <= 0 {
		c.Epochs = DefaultEpochs
	}
	if c.AgentsPerClass <= 0 {
		c.AgentsPerClass = DefaultAgentsPerClass
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = "-"
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// DeviceKind is how the agents of one demo class are limited: real limits, so each
// class measures different latencies on the same machine.
type DeviceKind struct {
	Class    string
	Label    string
	Threads  int
	CPUQuota float64 // cores; 0 for none
	// SLOFactor sets the class's p95 SLO as a share of the base model's single-thread
	// p95 measured on this machine, so the demo asks the same of any machine.
	SLOFactor       float64
	MaxAccuracyDrop float64
	Multiple        int
	Describe        string
}

// Kinds are the demo's three device classes.
var Kinds = []DeviceKind{
	{Class: "edge-small", Label: "small", Threads: 1, CPUQuota: 0.5, SLOFactor: 0.9, MaxAccuracyDrop: 1.5, Multiple: 4,
		Describe: "1 thread under a 0.5-core CPU quota"},
	{Class: "edge-mid", Label: "mid", Threads: 1, SLOFactor: 0.6, MaxAccuracyDrop: 1.0, Multiple: 4,
		Describe: "1 thread"},
	{Class: "edge-big", Label: "big", Threads: 2, SLOFactor: 0.45, MaxAccuracyDrop: 0.5, Multiple: 8,
		Describe: "2 threads"},
}

// Result is what the demo found for one class.
type Result struct {
	Kind     DeviceKind
	SLO      profiles.SLO
	State    *tuning.State
	Rollout  *rollout.Rollout
	Spread   []time.Duration // p95 of every report of the accepted variant on the class
	WallTime time.Duration
}

// Validate checks the configuration; zero values mean the defaults.
func (c Config) Validate() error {
	var errs []error
	if c.TrainSamples < 0 {
		errs = append(errs, fmt.Errorf("demo: --train-samples %d: want > 0 (0 for the default %d)", c.TrainSamples, DefaultTrainSamples))
	}
	if c.Epochs < 0 || c.Epochs > 100 {
		errs = append(errs, fmt.Errorf("demo: --epochs %d: want 1..100 (0 for the default %d)", c.Epochs, DefaultEpochs))
	}
	if c.AgentsPerClass < 0 || c.AgentsPerClass > 20 {
		errs = append(errs, fmt.Errorf("demo: --agents-per-class %d: want 1..20 (0 for the default %d)", c.AgentsPerClass, DefaultAgentsPerClass))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("demo: --timeout %v: want > 0", c.Timeout))
	}
	return errors.Join(errs...)
}

// Run runs the demo and writes its tables to cfg.Out. It returns an error when the
// configuration is invalid or a class ends without a verdict within the timeout.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	out := cfg.Out
	started := time.Now()

	fmt.Fprintf(out, "fleetprune demo: LeNet-5 on MNIST, three device classes played by local agents\n\n")
	onnxBytes, g, err := baseModel(ctx, cfg)
	if err != nil {
		return nil, err
	}
	base1, err := p95(ctx, g, 1, 400)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "base model single-thread p95 here: %v (SLOs below are shares of it, so the demo asks the same of any machine)\n", base1.Round(time.Microsecond))

	runDir := filepath.Join(cfg.Dir, "runs", time.Now().UTC().Format("20060102-150405"))
	gate := agent.NewBenchGate(1)
	cc := coordinator.DefaultConfig()
	cc.LeaseTTL = 5 * time.Second
	cc.HeartbeatInterval = time.Second
	cc.StaleAfter = 5 * time.Second
	cc.PresenceFlush = 500 * time.Millisecond
	s, err := stack.Start(ctx, stack.Config{
		Dir:         runDir,
		Coordinator: cc,
		Workbench:   tuner.WorkbenchConfig{FineTuneSamples: 8000, EvalSamples: 5000, SensitivitySamples: 1000, Seed: 11, CPU: gate, Log: cfg.Log},
		Tuner:       tuner.Config{WarmupRuns: 30, TimedRuns: 300, Poll: 200 * time.Millisecond},
		Rollouts: rollouts.Config{Plan: rollout.Plan{Stages: []float64{5, 25, 50, 100}, BakeTime: profiles.Duration(2 * time.Second), MinReports: 1},
			WarmupRuns: 30, TimedRuns: 300, Poll: 500 * time.Millisecond},
		Log: cfg.Log,
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Close() }()
	addr := cfg.HTTPAddr
	if addr == "-" {
		addr = "127.0.0.1:0"
	}
	node, err := s.StartNode(ctx, "demo", addr)
	if err != nil {
		return nil, err
	}
	if _, err := s.WaitLeader(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	if cfg.HTTPAddr != "-" {
		fmt.Fprintf(out, "coordinator API and dashboard: http://%s/\n", waitAddr(ctx, node))
	}
	slos, err := declare(ctx, node, onnxBytes, base1)
	if err != nil {
		return nil, err
	}
	for _, k := range Kinds {
		for i := 1; i <= cfg.AgentsPerClass; i++ {
			opts := []agent.Option{
				agent.WithLabels(map[string]string{"tier": k.Label}), agent.WithThreads(k.Threads),
				agent.WithBenchGate(gate), agent.WithHeartbeatInterval(time.Second),
			}
			if k.CPUQuota > 0 {
				opts = append(opts, agent.WithCPUQuota(k.CPUQuota))
			}
			if _, err := s.StartAgent(ctx, fmt.Sprintf("%s-%d", k.Label, i), opts...); err != nil {
				return nil, err
			}
		}
	}
	fmt.Fprintf(out, "started %d agents; tuning every class on its own devices...\n\n", len(Kinds)*cfg.AgentsPerClass)

	results, err := wait(ctx, s, cfg, slos, started)
	for _, r := range results {
		printClass(out, r)
	}
	if err != nil {
		return results, err
	}
	fmt.Fprintf(out, "every class reached a verdict in %v\n", time.Since(started).Round(time.Second))
	return results, nil
}

// baseModel loads the cached base model or trains one.
func baseModel(ctx context.Context, cfg Config) ([]byte, *graph.Graph, error) {
	path := filepath.Join(cfg.Dir, fmt.Sprintf("lenet5-mnist-%d-%d.onnx", cfg.TrainSamples, cfg.Epochs))
	if b, err := os.ReadFile(path); err == nil {
		if g, err := onnx.ReadFile(path); err == nil {
			fmt.Fprintf(cfg.Out, "base model: %s (cached; delete it to train again)\n", path)
			return b, g, nil
		}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	trainSet, err := data.Load("mnist", "train")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	testSet, err := data.Load("mnist", "test")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: %w", err)
	}
	n := min(cfg.TrainSamples, trainSet.Len())
	sub := trainSet.Subset("mnist/train", data.Permutation(trainSet.Len(), 5)[:n])
	g, err := models.Build("lenet-5", 5)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(cfg.Out, "training LeNet-5 on %d MNIST samples for %d epoch(s)...\n", n, cfg.Epochs)
	t0 := time.Now()
	last := time.Time{}
	_, err = train.Fit(ctx, g, sub, nil, train.Config{Epochs: cfg.Epochs, LR: 0.01, Optimizer: train.SGD, Schedule: train.Cosine, Seed: 5,
		Progress: func(p train.Progress) {
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				fmt.Fprintf(cfg.Out, "  epoch %d/%d step %d/%d  loss %.3f  %.0f samples/s\n", p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, p.SamplesPerSec)
			}
		}})
	if err != nil {
		return nil, nil, fmt.Errorf("demo: train: %w", err)
	}
	acc, _, _, err := train.Evaluate(ctx, g, testSet)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(cfg.Out, "trained in %v: test accuracy %.2f%%\n", time.Since(t0).Round(time.Second), 100*acc)
	if err := onnx.WriteFile(path, g); err != nil {
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	return b, g, err
}

// p95 measures g at batch 1 with the given threads.
func p95(ctx context.Context, g *graph.Graph, threads, runs int) (time.Duration, error) {
	ex, err := graph.Compile(g, graph.WithThreads(threads))
	if err != nil {
		return 0, err
	}
	x := map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.New(append([]int{1}, g.Inputs[0].Shape[1:]...)...)}
	out := map[string]*tensor.Tensor{}
	times := make([]time.Duration, 0, runs)
	for i := 0; i < runs+runs/10; i++ {
		t0 := time.Now()
		if err := ex.RunInto(ctx, x, out); err != nil {
			return 0, err
		}
		if i >= runs/10 {
			times = append(times, time.Since(t0))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)*95/100], nil
}

func waitAddr(ctx context.Context, n *stack.Node) string {
	for ctx.Err() == nil {
		if a := n.APIAddr(); a != "" {
			return a
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ""
}

// declare uploads the base model and applies the fleet document through the
// coordinator's HTTP API, as `fleetprune apply` does.
func declare(ctx context.Context, n *stack.Node, onnxBytes []byte, base1 time.Duration) (map[string]profiles.SLO, error) {
	cl, err := coordinator.NewClient("http://" + waitAddr(ctx, n))
	if err != nil {
		return nil, err
	}
	var art *coordinator.ArtifactResult
	for i := 0; i < 100; i++ {
		if art, err = cl.UploadArtifact(ctx, onnxBytes); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, fmt.Errorf("demo: upload base model: %w", err)
	}
	doc := fmt.Sprintf("models:\n  - name: lenet5\n    digest: %s\n    dataset: mnist\n    arch: lenet-5\n    inputShape: [1, 28, 28]\nclasses:\n", art.SHA256)
	slos := map[string]profiles.SLO{}
	for i, k := range Kinds {
		slo := profiles.SLO{P95Latency: profiles.Duration(time.Duration(float64(base1) * k.SLOFactor).Round(10 * time.Microsecond)), MaxAccuracyDrop: k.MaxAccuracyDrop}
		slos[k.Class] = slo
		doc += fmt.Sprintf("  - name: %s\n    selector: \"tier=%s\"\n    priority: %d\n    channelMultiple: %d\n    baseModel: lenet5\n    slo: {p95Latency: %dus, maxAccuracyDrop: %g}\n",
			k.Class, k.Label, 10*(len(Kinds)-i), k.Multiple, time.Duration(slo.P95Latency).Microseconds(), k.MaxAccuracyDrop)
	}
	if _, err := cl.Apply(ctx, []byte(doc)); err != nil {
		return nil, fmt.Errorf("demo: apply fleet: %w", err)
	}
	return slos, nil
}

// wait polls until every class has a verdict and, when a variant was accepted, its
// rollout has ended.
func wait(ctx context.Context, s *stack.Stack, cfg Config, slos map[string]profiles.SLO, started time.Time) ([]Result, error) {
	cli, err := s.Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ro := rollout.NewStore(cli)
	done := map[string]time.Duration{}
	lastPhase := map[string]string{}
	for {
		var results []Result
		finished := true
		for _, k := range Kinds {
			r := Result{Kind: k, SLO: slos[k.Class]}
			st, _, err := tuner.LoadState(ctx, cli, k.Class)
			if err != nil {
				return nil, err
			}
			r.State = st
			if st != nil && lastPhase[k.Class] != st.Message {
				lastPhase[k.Class] = st.Message
				fmt.Fprintf(cfg.Out, "  [%6.1fs] %-10s %s\n", time.Since(started).Seconds(), k.Class, st.Message)
			}
			if st == nil || st.Phase != tuning.PhaseDone {
				finished = false
				results = append(results, r)
				continue
			}
			if _, ok := done[k.Class]; !ok {
				done[k.Class] = time.Since(started)
			}
			r.WallTime = done[k.Class]
			if st.Verdict == tuning.Met && st.Accepted != "" && (st.Base == nil || st.Accepted != st.Base.VariantID) {
				got, _, err := ro.Get(ctx, k.Class, "ro-"+st.Accepted)
				switch {
				case errors.Is(err, profiles.ErrNotFound):
					finished = false
				case err != nil:
					return nil, err
				default:
					r.Rollout = &got
					if !got.State.Final() || len(got.Pending) > 0 {
						finished = false
					}
				}
			}
			if spread, err := reportSpread(ctx, s, k.Class, st.Accepted); err == nil {
				r.Spread = spread
			}
			results = append(results, r)
		}
		if finished {
			return results, nil
		}
		select {
		case <-ctx.Done():
			return results, fmt.Errorf("demo: not every class reached a verdict: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}
