package prune

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/plan"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// Method is a pruning method.
type Method string

// Pruning methods.
const (
	UnstructuredGlobal Method = "unstructured-global"
	UnstructuredLayer  Method = "unstructured-layer"
	UnstructuredHybrid Method = "unstructured-hybrid"
	Structured         Method = "structured"
)

// ParseMethod validates a method name.
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case UnstructuredGlobal, UnstructuredLayer, UnstructuredHybrid, Structured:
		return m, nil
	}
	return "", fmt.Errorf("prune: unknown method %q: want unstructured-global, unstructured-layer, unstructured-hybrid or structured", s)
}

// Unstructured reports whether the method zeroes single weights (and keeps shapes).
func (m Method) Unstructured() bool { return m != Structured }

// Defaults of Config.
const (
	DefaultStages        = 4
	DefaultTolerance     = 0.5 // percentage points a layer may cost alone in hybrid mode
	DefaultTaylorBatches = 8
	maxUnstructured      = 0.999
)

// Config is a pruning job. Train configures fine-tuning; its Epochs are the total
// fine-tuning epochs, spread over the stages of the schedule.
type Config struct {
	Method    Method
	Target    Target
	Plan      *PlanFile // structured, with a plan target
	Criterion Criterion // structured; default l1
	Schedule  ScheduleKind
	// Stages is the number of prune steps of an iterative or cubic schedule; 0 means
	// DefaultStages.
	Stages int
	// Curves are sensitivity curves: hybrid mode derives per-layer bounds from them,
	// structured mode plans a params or MACs budget with them.
	Curves []plan.Curve
	// Tolerance is the accuracy drop, in percentage points, that hybrid mode lets a
	// layer cost alone: its cap is the largest ratio within it. 0 means the default.
	Tolerance float64
	// Multiple rounds structured channel counts (SIMD width); 0 or 1 means any count.
	Multiple int
	// Search, with a params or MACs target and Curves, makes the structured plan by
	// timing candidates on this machine (LatencySearch) instead of by the MACs or
	// params cost model.
	Search *LatencySearch
	// TaylorBatches is how many training batches feed the taylor criterion.
	TaylorBatches int
	Train         train.Config
	TrainSet      *data.Dataset
	ValSet        *data.Dataset
	Log           *slog.Logger
}

// Result is a finished prune.
type Result struct {
	// Graph is the pruned model: masks folded for unstructured methods, physically
	// smaller for structured. The input graph is never changed.
	Graph *graph.Graph
	// Masks of unstructured methods; nil for structured.
	Masks Masks
	// Sparsity is the fraction of prunable weights removed (unstructured) or of units
	// removed (structured).
	Sparsity float64
	// Kept is the unit count per group after structured pruning.
	Kept    map[string]int
	History []*train.History
}

// Prune runs a pruning job: it resolves the target, prunes along the schedule and
// fine-tunes in between. It returns an error naming the problem for a bad target, an
// unknown layer in a plan or curves, or a budget below the smallest valid model.
func Prune(ctx context.Context, g *graph.Graph, cfg Config) (*Result, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Schedule == "" {
		cfg.Schedule = ScheduleOneShot
	}
	if _, err := ParseSchedule(string(cfg.Schedule)); err != nil {
		return nil, err
	}
	if cfg.Stages <= 0 {
		cfg.Stages = DefaultStages
	}
	if cfg.Train.Epochs > 0 && cfg.TrainSet == nil {
		return nil, errors.New("prune: fine-tuning needs a training set")
	}
	if cfg.Target.Kind == TargetPlan && cfg.Method != Structured && cfg.Method != UnstructuredLayer {
		return nil, fmt.Errorf("prune: a plan file of keep ratios is for structured or unstructured-layer pruning, not %s", cfg.Method)
	}
	if cfg.Target.Kind == TargetPlan && cfg.Plan == nil {
		return nil, errors.New("prune: target plan without a plan file")
	}
	if cfg.Search != nil && (cfg.Method != Structured || cfg.Target.Kind != TargetMACs && cfg.Target.Kind != TargetParams || len(cfg.Curves) == 0) {
		return nil, fmt.Errorf("prune: a latency search plans structured pruning to a params or MACs target from sensitivity curves, not %s to %s with %d curves", cfg.Method, cfg.Target, len(cfg.Curves))
	}
	if err := cfg.Target.Validate(); err != nil {
		return nil, err
	}
	g = g.Clone()
	if cfg.Method == Structured {
		return pruneStructured(ctx, g, cfg)
	}
	if _, err := ParseMethod(string(cfg.Method)); err != nil {
		return nil, err
	}
	return pruneUnstructured(ctx, g, cfg)
}

// stageEpochs splits total epochs over stages; the remainder goes to the last stages,
// whose larger prune steps need the most recovery.
func stageEpochs(total, stages int) []int {
	out := make([]int, stages)
	for i := 0; i < total; i++ {
		out[stages-1-i%stages]++
	}
	return out
}

func finetune(ctx context.Context, g *graph.Graph, cfg Config, epochs int, afterStep func()) (*train.History, error) {
	if epochs <= 0 {
		return nil, nil
	}
	tc := cfg.Train
	tc.Epochs = epochs
	prev := tc.AfterStep
	tc.AfterStep = func() {
		afterStep()
		if prev != nil {
			prev()
		}
	}
	h, err := train.Fit(ctx, g, cfg.TrainSet, cfg.ValSet, tc)
	if err != nil {
		return h, fmt.Errorf("prune: fine-tune: %w", err)
	}
	return h, nil
}

// unstructuredSparsity turns the target into a sparsity of the prunable weights.
func unstructuredSparsity(g *graph.Graph, cfg Config, maskAt func(float64) (Masks, error)) (float64, error) {
	t := cfg.Target
	switch t.Kind {
	case TargetSparsity:
		return t.Value, nil
	case TargetPlan:
		per, err := planSparsity(g, cfg.Plan)
		if err != nil {
			return 0, err
		}
		var total, pruned float64
		for _, l := range WeightLayers(g) {
			total += float64(l.Size)
			pruned += per[l.Param] * float64(l.Size)
		}
		return pruned / total, nil
	}
	r, err := metrics.Measure(g)
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	layers := WeightLayers(g)
	switch t.Kind {
	case TargetParams:
		var prunable int64
		for _, l := range layers {
			prunable += int64(l.Size)
		}
		budget := t.Budget(float64(r.Total.Params))
		fixed := float64(r.Total.Params - prunable)
		s := 1 - (budget-fixed)/float64(prunable)
		if s >= maxUnstructured || budget <= fixed {
			return 0, fmt.Errorf("prune: params target %s: %.0f nonzero parameters is below the smallest valid model (%.0f parameters outside the prunable weights, and at least %.1f%% of those kept)", t, budget, fixed, 100*(1-maxUnstructured))
		}
		return math.Max(s, 0), nil
	case TargetMACs:
		byNode := map[string]int64{}
		for _, l := range r.Layers {
			byNode[l.Name] = l.MACs
		}
		other := float64(r.Total.MACs)
		byParam := map[string]int64{}
		for _, l := range layers {
			byParam[l.Param] = byNode[l.Node]
			other -= float64(byNode[l.Node])
		}
		budget := t.Budget(float64(r.Total.MACs))
		// Effective MACs are those left when zero weights are skipped, as metrics'
		// NonZeroMACs counts them.
		eff := func(s float64) (float64, error) {
			m, err := maskAt(s)
			if err != nil {
				return 0, err
			}
			e := other
			for p, mm := range byParam {
				e += float64(mm) * (1 - m.LayerSparsity(p))
			}
			return e, nil
		}
		if e, err := eff(maxUnstructured); err != nil || e > budget {
			if err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("prune: MACs target %s: %.0f is below the smallest valid model (%.0f effective MACs at %.1f%% sparsity)", t, budget, e, 100*maxUnstructured)
		}
		lo, hi := 0.0, maxUnstructured
		for range 30 {
			mid := (lo + hi) / 2
			e, err := eff(mid)
			if err != nil {
				return 0, err
			}
			if e <= budget {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi, nil
	}
	return 0, fmt.Errorf("prune: target %s does not apply to %s", t, cfg.Method)
}

// hybridBounds derives per-weight sparsity bounds from sensitivity curves: the cap is
// the largest ratio whose drop stays within the tolerance, the floor the largest whose
// drop stays within a quarter of it (pruning there is nearly free).
func hybridBounds(g *graph.Graph, cfg Config) (map[string]Bounds, error) {
	if len(cfg.Curves) == 0 {
		return nil, errors.New("prune: unstructured-hybrid needs sensitivity curves (--sensitivity sens.json from `fleetprune sensitivity`)")
	}
	tol := cfg.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	layers := WeightLayers(g)
	out := map[string]Bounds{}
	for _, c := range cfg.Curves {
		if !hasWeight(layers, c.Layer) {
			return nil, fmt.Errorf("prune: sensitivity curve for %q, which is not a prunable weight of this model (weights: %v); were the curves made with --method unstructured?", c.Layer, weightNames(g))
		}
		capR := c.Tolerated(tol)
		// Beyond the last measured ratio the curve says nothing: a layer that stays
		// within tolerance up to it may go further, to the global maximum.
		if len(c.Ratios) > 0 && capR == c.Ratios[len(c.Ratios)-1] {
			capR = maxUnstructured
		}
		out[c.Layer] = Bounds{Floor: math.Min(c.Tolerated(tol/4), capR), Cap: capR}
	}
	return out, nil
}

func pruneUnstructured(ctx context.Context, g *graph.Graph, cfg Config) (*Result, error) {
	var bounds map[string]Bounds
	if cfg.Method == UnstructuredHybrid {
		var err error
		if bounds, err = hybridBounds(g, cfg); err != nil {
			return nil, err
		}
	}
	var perLayer map[string]float64
	if cfg.Target.Kind == TargetPlan {
		var err error
		if perLayer, err = planSparsity(g, cfg.Plan); err != nil {
			return nil, err
		}
	}
	final := 0.0
	maskAt := func(s float64) (Masks, error) {
		switch {
		case cfg.Method == UnstructuredGlobal:
			return GlobalMasks(g, s)
		case cfg.Method == UnstructuredLayer && perLayer != nil:
			// Along a schedule every layer moves toward its own final sparsity in step.
			per := map[string]float64{}
			for k, v := range perLayer {
				if final > 0 && s < final {
					v *= s / final
				}
				per[k] = v
			}
			return PerLayerMasks(g, per)
		case cfg.Method == UnstructuredLayer:
			return LayerMasks(g, s)
		}
		// Early in a schedule the floors of the final target would overshoot: scale them.
		b := map[string]Bounds{}
		for k, v := range bounds {
			if final > 0 && s < final {
				v.Floor *= s / final
			}
			b[k] = v
		}
		return HybridMasks(g, s, b)
	}
	var err error
	final, err = unstructuredSparsity(g, cfg, maskAt)
	if err != nil {
		return nil, err
	}
	// Fail before any fine-tuning when the final masks cannot be made (hybrid caps).
	if _, err := maskAt(final); err != nil {
		return nil, err
	}
	res := &Result{}
	var masks Masks
	apply := func() { masks.Apply(g) }
	if cfg.Schedule == ScheduleCubic && cfg.Train.Epochs > 0 {
		steps := cfg.TrainSet.Len() / max(trainBatch(cfg), 1) * cfg.Train.Epochs
		// Prune over the first three quarters of fine-tuning, then recover at s_f.
		n := cfg.Stages * 4
		dt := max(steps*3/4/n, 1)
		step := 0
		if masks, err = maskAt(0); err != nil {
			return nil, err
		}
		var stepErr error
		tc := cfg
		tc.Train.EarlyStopPatience = 0 // a restored snapshot would predate later prune steps
		h, err := finetune(ctx, g, tc, cfg.Train.Epochs, func() {
			step++
			if step%dt == 0 && step <= n*dt {
				s := CubicSparsity(0, final, step, 0, n, dt)
				m, err := maskAt(s)
				if err != nil && stepErr == nil {
					stepErr = err
				} else if err == nil {
					masks = m
				}
			}
			apply()
		})
		res.History = append(res.History, h)
		if err != nil {
			return nil, err
		}
		if stepErr != nil {
			return nil, fmt.Errorf("prune: cubic schedule: %w", stepErr)
		}
		// Should the step count fall short of the last event, finish at s_f.
		if masks.Sparsity() < final-1e-3 {
			if masks, err = maskAt(final); err != nil {
				return nil, err
			}
		}
	} else {
		levels := Levels(cfg.Schedule, final, cfg.Stages)
		epochs := stageEpochs(cfg.Train.Epochs, len(levels))
		for i, s := range levels {
			if masks, err = maskAt(s); err != nil {
				return nil, err
			}
			apply()
			cfg.Log.Info("prune: stage", "stage", i+1, "of", len(levels), "sparsity", s, "epochs", epochs[i])
			h, err := finetune(ctx, g, cfg, epochs[i], apply)
			if h != nil {
				res.History = append(res.History, h)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	apply()
	res.Graph, res.Masks, res.Sparsity = g, masks, masks.Sparsity()
	return res, nil
}

// planSparsity turns a plan's keep ratios, keyed by prunable weight, into sparsities;
// weights the plan does not name stay dense.
func planSparsity(g *graph.Graph, p *PlanFile) (map[string]float64, error) {
	layers := WeightLayers(g)
	out := map[string]float64{}
	for _, name := range sortedKeys(p.Keep) {
		if !hasWeight(layers, name) {
			return nil, fmt.Errorf("prune: plan names weight %q, which is not a prunable weight of this model (weights: %v)", name, weightNames(g))
		}
		s := 1 - p.Keep[name]
		if s >= maxUnstructured {
			return nil, fmt.Errorf("prune: plan keeps %v of weight %q, below the smallest valid model (at least %.1f%% of every weight kept)", p.Keep[name], name, 100*(1-maxUnstructured))
		}
		out[name] = max(s, 0)
	}
	return out, nil
}

func trainBatch(cfg Config) int {
	if cfg.Train.BatchSize > 0 {
		return cfg.Train.BatchSize
	}
	return train.DefaultBatchSize
}

func pruneStructured(ctx context.Context, g *graph.Graph, cfg Config) (*Result, error) {
	if cfg.Criterion == "" {
		cfg.Criterion = CriterionL1
	}
	if _, err := ParseCriterion(string(cfg.Criterion)); err != nil {
		return nil, err
	}
	d, err := Build(g)
	if err != nil {
		return nil, err
	}
	if len(d.Groups) == 0 {
		return nil, errors.New("prune: structured: the model has no prunable channel groups")
	}
	var final map[string]int
	if cfg.Search != nil {
		final, err = d.searchCounts(ctx, cfg)
	} else {
		final, err = d.StructuredKeep(cfg.Target, cfg.Plan, cfg.Curves, cfg.Multiple)
	}
	if err != nil {
		return nil, err
	}
	orig := map[string]int{}
	for _, gr := range d.Groups {
		orig[gr.Name] = gr.Size()
	}
	stages := 1
	if cfg.Schedule != ScheduleOneShot {
		stages = cfg.Stages
	}
	epochs := stageEpochs(cfg.Train.Epochs, stages)
	res := &Result{}
	for st := 1; st <= stages; st++ {
		// Fraction of the way to the final counts after this stage.
		f := float64(st) / float64(stages)
		if cfg.Schedule == ScheduleCubic {
			f = 1 - math.Pow(1-f, 3)
		}
		d, err := Build(g)
		if err != nil {
			return nil, err
		}
		counts := map[string]int{}
		for _, gr := range d.Groups {
			want := orig[gr.Name] - int(math.Round(f*float64(orig[gr.Name]-final[gr.Name])))
			if st == stages {
				want = final[gr.Name]
			}
			counts[gr.Name] = min(max(want, 1), gr.Size())
		}
		var taylor *TaylorAccumulator
		if cfg.Criterion == CriterionTaylor {
			if taylor, err = accumulateTaylor(ctx, d, cfg); err != nil {
				return nil, err
			}
		}
		scores, err := d.Scores(cfg.Criterion, taylor)
		if err != nil {
			return nil, err
		}
		if g, err = d.PruneStructured(counts, scores); err != nil {
			return nil, err
		}
		cfg.Log.Info("prune: structured stage", "stage", st, "of", stages, "kept", counts, "epochs", epochs[st-1])
		h, err := finetune(ctx, g, cfg, epochs[st-1], func() {})
		if h != nil {
			res.History = append(res.History, h)
		}
		if err != nil {
			return nil, err
		}
		res.Kept = counts
	}
	var before, after int
	for name, n := range orig {
		before += n
		after += res.Kept[name]
	}
	res.Graph, res.Sparsity = g, 1-float64(after)/float64(before)
	return res, nil
}

// accumulateTaylor runs forward and backward passes over a few training batches and
// gathers first-order Taylor scores.
func accumulateTaylor(ctx context.Context, d *DepGraph, cfg Config) (*TaylorAccumulator, error) {
	set := cfg.TrainSet
	if set == nil {
		set = cfg.ValSet
	}
	if set == nil {
		return nil, errors.New("prune: the taylor criterion needs data for gradients")
	}
	g := d.Graph()
	if len(g.Inputs) != 1 || len(g.Outputs) < 1 {
		return nil, fmt.Errorf("prune: taylor: want one input and logits as first output, got %d inputs, %d outputs", len(g.Inputs), len(g.Outputs))
	}
	ex, err := graph.Compile(g, graph.WithTraining(true))
	if err != nil {
		return nil, fmt.Errorf("prune: taylor: %w", err)
	}
	acc := NewTaylorAccumulator(d)
	batches := cfg.TaylorBatches
	if batches <= 0 {
		batches = DefaultTaylorBatches
	}
	bs := trainBatch(cfg)
	perm := data.Permutation(set.Len(), cfg.Train.Seed+17)
	for b := 0; b < batches && (b+1)*bs <= set.Len(); b++ {
		x, labels := set.Batch(perm[b*bs : (b+1)*bs])
		outs, err := ex.Forward(ctx, map[string]*tensor.Tensor{g.Inputs[0].Name: x})
		if err != nil {
			return nil, fmt.Errorf("prune: taylor: %w", err)
		}
		_, grad := graph.SoftmaxCrossEntropy(outs[g.Outputs[0].Name], labels)
		if err := ex.Backward(ctx, map[string]*tensor.Tensor{g.Outputs[0].Name: grad}); err != nil {
			return nil, fmt.Errorf("prune: taylor: %w", err)
		}
		acc.Add(ex.Grads())
	}
	if acc.Batches() == 0 {
		return nil, fmt.Errorf("prune: taylor: dataset of %d samples has no full batch of %d", set.Len(), bs)
	}
	return acc, nil
}
