// Package tuner is the coordinator's per-class tuning loop: it measures the base model
// on a probe cohort of the class, plans and builds pruned variants for a latency
// budget, has the cohort benchmark them, and searches until the class's SLO holds or
// a verdict names why it cannot. Its decisions come from package tuning; this package
// does the work and keeps the state in etcd.
package tuner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/fleetprune/fleetprune/agent/probe"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/plan"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// WorkbenchConfig sizes the ML work of tuning. Zero fields take the defaults.
type WorkbenchConfig struct {
	// FineTuneEpochs over FineTuneSamples training samples follow every prune.
	FineTuneEpochs  int
	FineTuneSamples int
	// EvalSamples of the test split measure accuracy (0: the whole split).
	EvalSamples int
	// SensitivitySamples of the training split (held out of fine-tuning) measure
	// sensitivity curves.
	SensitivitySamples int
	LR                 float32
	Seed               uint64
	Threads            int
	Log                *slog.Logger
	// CPU, when set, is held during every build and analysis. Where agents
	// benchmark on the same machine as the coordinator (the demo, `fleetprune up`
	// with local agents), sharing it with them keeps fine-tuning from stealing cores
	// from a benchmark and skewing the latencies that tuning acts on.
	CPU Gate
}

// Gate admits a bounded number of CPU-heavy jobs at once.
type Gate interface {
	Acquire(ctx context.Context) error
	Release()
}

// Defaults of WorkbenchConfig.
const (
	DefaultFineTuneEpochs     = 1
	DefaultFineTuneSamples    = 12000
	DefaultSensitivitySamples = 2000
	DefaultFineTuneLR         = 0.01
)

func (c WorkbenchConfig) withDefaults() WorkbenchConfig {
	if c.FineTuneEpochs <= 0 {
		c.FineTuneEpochs = DefaultFineTuneEpochs
	}
	if c.FineTuneSamples <= 0 {
		c.FineTuneSamples = DefaultFineTuneSamples
	}
	if c.SensitivitySamples <= 0 {
		c.SensitivitySamples = DefaultSensitivitySamples
	}
	if c.LR <= 0 {
		c.LR = DefaultFineTuneLR
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Workbench loads base models and their datasets once and builds pruned variants
// of them. It is safe for concurrent use; builds run one at a time, since each uses
// every core.
type Workbench struct {
	cfg   WorkbenchConfig
	mu    sync.Mutex // guards bases
	build sync.Mutex // one build or analysis at a time
	bases map[string]*Base
}

// NewWorkbench returns a workbench.
func NewWorkbench(cfg WorkbenchConfig) *Workbench {
	return &Workbench{cfg: cfg.withDefaults(), bases: map[string]*Base{}}
}

// hold takes the build lock and the CPU gate.
func (w *Workbench) hold(ctx context.Context) (func(), error) {
	w.build.Lock()
	if w.cfg.CPU != nil {
		if err := w.cfg.CPU.Acquire(ctx); err != nil {
			w.build.Unlock()
			return nil, err
		}
	}
	return func() {
		if w.cfg.CPU != nil {
			w.cfg.CPU.Release()
		}
		w.build.Unlock()
	}, nil
}

// Base is a loaded base model with its data splits and measurements.
type Base struct {
	Model profiles.Model
	Graph *graph.Graph
	// Tune is the fine-tuning set, Val the sensitivity set (disjoint from Tune), Test
	// the accuracy set.
	Tune, Val, Test *data.Dataset
	Accuracy        float64 // percent on Test
	Metrics         *metrics.Report
	InputShape      []int64
}

// Load parses the base model's ONNX bytes, loads its dataset and measures its
// accuracy; the result is cached by digest. It returns an error naming the model when
// the bytes do not match the digest, do not parse, or the dataset cannot be loaded.
func (w *Workbench) Load(ctx context.Context, m profiles.Model, onnxBytes []byte) (*Base, error) {
	w.mu.Lock()
	b, ok := w.bases[m.Digest]
	w.mu.Unlock()
	if ok {
		return b, nil
	}
	if got := profiles.Digest(onnxBytes); got != m.Digest {
		return nil, fmt.Errorf("tuner: model %s: bytes have digest %s, want %s", m.Name, got, m.Digest)
	}
	g, err := onnx.Read(bytes.NewReader(onnxBytes))
	if err != nil {
		return nil, fmt.Errorf("tuner: model %s: %w", m.Name, err)
	}
	if _, err := graph.Compile(g); err != nil {
		return nil, fmt.Errorf("tuner: model %s: %w", m.Name, err)
	}
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, fmt.Errorf("tuner: model %s: %d inputs and %d outputs, want one of each", m.Name, len(g.Inputs), len(g.Outputs))
	}
	trainSet, err := data.Load(m.Dataset, "train")
	if err != nil {
		return nil, fmt.Errorf("tuner: model %s: dataset: %w", m.Name, err)
	}
	testSet, err := data.Load(m.Dataset, "test")
	if err != nil {
		return nil, fmt.Errorf("tuner: model %s: dataset: %w", m.Name, err)
	}
	perm := data.Permutation(trainSet.Len(), w.cfg.Seed+1)
	nVal := min(w.cfg.SensitivitySamples, trainSet.Len()/5)
	nTune := min(w.cfg.FineTuneSamples, trainSet.Len()-nVal)
	b = &Base{
		Model: m, Graph: g,
		Val:  trainSet.Subset(m.Dataset+"/val", perm[:nVal]),
		Tune: trainSet.Subset(m.Dataset+"/tune", perm[nVal:nVal+nTune]),
		Test: testSet,
	}
	if n := w.cfg.EvalSamples; n > 0 && n < testSet.Len() {
		b.Test = testSet.Subset(m.Dataset+"/test", data.Permutation(testSet.Len(), w.cfg.Seed+2)[:n])
	}
	for _, d := range g.Inputs[0].Shape[1:] {
		b.InputShape = append(b.InputShape, int64(d))
	}
	if b.Metrics, err = metrics.Measure(g); err != nil {
		return nil, fmt.Errorf("tuner: model %s: metrics: %w", m.Name, err)
	}
	acc, _, _, err := train.Evaluate(ctx, g, b.Test)
	if err != nil {
		return nil, fmt.Errorf("tuner: model %s: evaluate: %w", m.Name, err)
	}
	b.Accuracy = 100 * acc
	w.mu.Lock()
	w.bases[m.Digest] = b
	w.mu.Unlock()
	return b, nil
}

// Sensitivity measures the structured sensitivity curves of the base model on its
// validation samples.
func (w *Workbench) Sensitivity(ctx context.Context, b *Base) (*sensitivity.Curves, error) {
	release, err := w.hold(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	c, err := sensitivity.Analyze(ctx, b.Graph, b.Val, sensitivity.Config{
		Structured: true, Criterion: prune.CriterionL1, Model: b.Model.Name,
	})
	if err != nil {
		return nil, fmt.Errorf("tuner: sensitivity of %s: %w", b.Model.Name, err)
	}
	return c, nil
}

// Variant is a built variant: the pruned, fine-tuned model and what it measures.
type Variant struct {
	Graph *graph.Graph
	ONNX  []byte
	// NodeShare is, per timed node, the share of its base latency cost the variant
	// keeps; the latency model predicts from it.
	NodeShare map[string]float64
	Channels  map[string]int
	Params    int64
	Nonzero   int64
	MACs      int64
	Accuracy  float64 // percent on the test samples
	Checksum  string  // output checksum on the probe batch
}

// ErrBudgetTooSmall is returned by Build when the budget is below the smallest valid
// model.
var ErrBudgetTooSmall = plan.ErrBudgetTooSmall

// costTerms are the latency cost terms of the base model: measured per-node times
// when the class has them, MACs otherwise.
func costTerms(b *Base, nodeTimes map[string]float64) (*prune.DepGraph, []plan.Term, error) {
	d, err := prune.Build(b.Graph)
	if err != nil {
		return nil, nil, fmt.Errorf("tuner: dependency graph of %s: %w", b.Model.Name, err)
	}
	var terms []plan.Term
	if len(nodeTimes) > 0 {
		terms = d.LatencyTerms(nodeTimes)
	}
	if len(terms) == 0 {
		if terms, err = d.MACsTerms(); err != nil {
			return nil, nil, fmt.Errorf("tuner: MACs of %s: %w", b.Model.Name, err)
		}
	}
	return d, terms, nil
}

// MinBudget is the smallest budget (share of the base model's cost) a valid variant
// can reach: every prunable layer at the fewest channels the planner allows. It asks
// the planner itself, by bisection, so the two can never disagree.
func (w *Workbench) MinBudget(b *Base, curves *sensitivity.Curves, nodeTimes map[string]float64, multiple int) (float64, error) {
	_, terms, err := costTerms(b, nodeTimes)
	if err != nil {
		return 0, err
	}
	total := plan.Cost(terms, nil)
	if total <= 0 {
		return 0, fmt.Errorf("tuner: model %s has no measurable cost", b.Model.Name)
	}
	pc := curves.PlanCurves()
	fits := func(budget float64) bool {
		_, err := plan.Solve(plan.Problem{Curves: pc, Costs: terms, Budget: budget * total, Multiple: multiple})
		return err == nil
	}
	lo, hi := 0.0, 1.0
	if !fits(hi) {
		return 0, fmt.Errorf("tuner: model %s: the planner cannot fit even the whole model", b.Model.Name)
	}
	for i := 0; i < 30 && hi-lo > 1e-4; i++ {
		mid := (lo + hi) / 2
		if fits(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, nil
}

// Build plans per-layer keep ratios that fit budget (a share of the base model's
// latency cost) with the least predicted accuracy loss, prunes the base model
// structurally, fine-tunes and evaluates it. It returns an error wrapping
// ErrBudgetTooSmall when no valid model fits the budget.
func (w *Workbench) Build(ctx context.Context, b *Base, curves *sensitivity.Curves, nodeTimes map[string]float64, budget float64, multiple int, probeSeed uint64) (*Variant, error) {
	release, err := w.hold(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	_, terms, err := costTerms(b, nodeTimes)
	if err != nil {
		return nil, err
	}
	total := plan.Cost(terms, nil)
	p, err := plan.Solve(plan.Problem{Curves: curves.PlanCurves(), Costs: terms, Budget: budget * total, Multiple: multiple})
	if errors.Is(err, plan.ErrBudgetTooSmall) {
		// The search never asks below MinBudget; rounding can still land a hair under
		// the floor, where the smallest valid model is the answer.
		if floor, ferr := w.MinBudget(b, curves, nodeTimes, multiple); ferr == nil && budget >= floor*0.99 {
			p, err = plan.Solve(plan.Problem{Curves: curves.PlanCurves(), Costs: terms, Budget: floor * total, Multiple: multiple})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("tuner: plan for budget %.3f: %w", budget, err)
	}
	res, err := prune.Prune(ctx, b.Graph, prune.Config{
		Method:   prune.Structured,
		Target:   prune.Target{Kind: prune.TargetPlan},
		Plan:     &prune.PlanFile{Keep: p.Keep},
		Multiple: multiple,
		Train: train.Config{
			Epochs: w.cfg.FineTuneEpochs, LR: w.cfg.LR, Optimizer: train.SGD, Schedule: train.Cosine,
			Seed: w.cfg.Seed, Threads: w.cfg.Threads,
		},
		TrainSet: b.Tune,
		Log:      w.cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("tuner: prune for budget %.3f: %w", budget, err)
	}
	v := &Variant{Graph: res.Graph, Channels: res.Kept, NodeShare: map[string]float64{}}
	for _, t := range terms {
		if t.Base > 0 {
			v.NodeShare[t.Node] = plan.Cost([]plan.Term{t}, p.Keep) / t.Base
		}
	}
	if v.ONNX, err = onnx.Marshal(res.Graph); err != nil {
		return nil, fmt.Errorf("tuner: encode variant: %w", err)
	}
	rep, err := metrics.Measure(res.Graph)
	if err != nil {
		return nil, fmt.Errorf("tuner: variant metrics: %w", err)
	}
	v.Params, v.Nonzero, v.MACs = rep.Total.Params, rep.Total.NonZero, rep.Total.MACs
	acc, _, _, err := train.Evaluate(ctx, res.Graph, b.Test)
	if err != nil {
		return nil, fmt.Errorf("tuner: evaluate variant: %w", err)
	}
	v.Accuracy = 100 * acc
	if v.Checksum, err = Checksum(ctx, res.Graph, b.InputShape, probeSeed); err != nil {
		return nil, err
	}
	return v, nil
}

// Checksum runs g on the probe batch of seed and returns the output checksum agents
// compare theirs with.
func Checksum(ctx context.Context, g *graph.Graph, inputShape []int64, seed uint64) (string, error) {
	x, err := probe.Batch(seed, inputShape)
	if err != nil {
		return "", fmt.Errorf("tuner: probe batch: %w", err)
	}
	ex, err := graph.Compile(g)
	if err != nil {
		return "", fmt.Errorf("tuner: probe: %w", err)
	}
	out, err := ex.Run(ctx, map[string]*tensor.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		return "", fmt.Errorf("tuner: probe run: %w", err)
	}
	var outs []*tensor.Tensor
	for _, o := range g.Outputs {
		t, ok := out[o.Name]
		if !ok {
			return "", errors.New("tuner: probe run: output " + o.Name + " missing")
		}
		outs = append(outs, t)
	}
	return probe.OutputChecksum(outs)
}
