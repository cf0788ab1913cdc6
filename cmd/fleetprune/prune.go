package main

import (
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/pruning/train"
)

func init() { subcommands = append(subcommands, newPruneCmd) }

type pruneFlags struct {
	dataset, method, target, out, schedule, criterion, planFile, sensFile string
	optimizer, lrSchedule                                                 string
	epochs, round, stages, batch, threads                                 int
	lr, valSplit, tolerance, weightDecay, distill, temperature            float64
	seed                                                                  uint64
	noLatency, byLatency                                                  bool
}

func newPruneCmd() *cobra.Command {
	var f pruneFlags
	cmd := &cobra.Command{
		Use:   "prune MODEL.onnx --data DATASET --method METHOD --target T --out VARIANT.onnx",
		Short: "Prune a model (unstructured or structured), fine-tune it, and report what it saves, measured",
		Example: `  fleetprune prune base.onnx --data mnist --method unstructured-global --target sparsity=0.95 --finetune-epochs 4 --out variant.onnx
  fleetprune prune base.onnx --data mnist --method structured --target macs=0.25x --criterion l1 --round 8 --out small.onnx
  fleetprune prune base.onnx --data mnist --method structured --plan plan.yaml --out small.onnx
  fleetprune prune base.onnx --data mnist --method structured --sensitivity sens.json --target macs=0.25x --plan-by-latency --round 4 --out small.onnx
  fleetprune prune base.onnx --data mnist --method unstructured-hybrid --sensitivity sens.json --target params=22000 --out v.onnx
  fleetprune prune base.onnx --data mnist --method unstructured-layer --target sparsity=0.92 --schedule cubic --finetune-epochs 10 \
      --lr 0.05 --lr-schedule cosine --weight-decay 5e-4 --distill 0.5 --out v.onnx`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPrune(cmd, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataset, "data", "", "dataset: mnist, fashion-mnist, a folder of IDX files or images, or a CSV file")
	fl.StringVar(&f.method, "method", "", "unstructured-global, unstructured-layer, unstructured-hybrid or structured")
	fl.StringVar(&f.target, "target", "", "sparsity=0.95, params=22000, params=0.1x, macs=0.25x or macs=150000 (structured may use --plan instead)")
	fl.StringVar(&f.out, "out", "", "where to write the pruned model (ONNX)")
	fl.IntVar(&f.epochs, "finetune-epochs", 2, "fine-tuning epochs in all, spread over the schedule's stages")
	fl.StringVar(&f.schedule, "schedule", string(prune.ScheduleOneShot), "oneshot, iterative or cubic")
	fl.IntVar(&f.stages, "stages", prune.DefaultStages, "prune steps of the iterative and cubic schedules")
	fl.StringVar(&f.criterion, "criterion", string(prune.CriterionL1), "structured criterion: l1, l2, bn or taylor")
	fl.StringVar(&f.planFile, "plan", "", "YAML or JSON file of per-layer keep ratios (keep: {layer: ratio}), for structured or unstructured-layer instead of --target")
	fl.StringVar(&f.sensFile, "sensitivity", "", "sensitivity curves (JSON from `fleetprune sensitivity`): bounds for hybrid, planning for structured budgets")
	fl.Float64Var(&f.tolerance, "tolerance", prune.DefaultTolerance, "hybrid: accuracy drop (pp) a layer may cost alone")
	fl.IntVar(&f.round, "round", 1, "structured: round channel counts to a multiple (4, 8, 16)")
	fl.IntVar(&f.batch, "batch", train.DefaultBatchSize, "fine-tuning mini-batch size")
	fl.Float64Var(&f.lr, "lr", 0.01, "fine-tuning learning rate")
	fl.StringVar(&f.optimizer, "optimizer", string(train.SGD), "fine-tuning optimizer: sgd (with momentum 0.9) or adam")
	fl.StringVar(&f.lrSchedule, "lr-schedule", string(train.Constant), "fine-tuning learning-rate schedule: constant or cosine (to lr/20)")
	fl.Float64Var(&f.weightDecay, "weight-decay", 0, "fine-tuning L2 weight decay")
	fl.Float64Var(&f.distill, "distill", 0, "weight in (0, 1] of distillation from the unpruned model during fine-tuning (0: labels only)")
	fl.Float64Var(&f.temperature, "temperature", train.DefaultTemperature, "distillation temperature")
	fl.Float64Var(&f.valSplit, "val-split", 1.0/12, "share of the training set held out for validation")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for shuffling and the validation split")
	fl.IntVar(&f.threads, "threads", 0, "threads for the engine (0: all cores)")
	fl.BoolVar(&f.noLatency, "no-latency", false, "skip the latency measurements")
	fl.BoolVar(&f.byLatency, "plan-by-latency", false, "structured, with --target params or macs and --sensitivity: plan the channels by timing candidates on this machine (NetAdapt-style), not by the params or MACs cost model")
	return cmd
}

func (f pruneFlags) config() (prune.Config, error) {
	var errs []string
	cfg := prune.Config{Stages: f.stages, Tolerance: f.tolerance, Multiple: f.round,
		Train: train.Config{BatchSize: f.batch, LR: float32(f.lr), Seed: f.seed, Threads: f.threads, Epochs: f.epochs}}
	var err error
	if f.dataset == "" {
		errs = append(errs, "--data is required")
	}
	if f.out == "" {
		errs = append(errs, "--out is required")
	} else if !strings.EqualFold(filepath.Ext(f.out), ".onnx") {
		errs = append(errs, fmt.Sprintf("--out %q: want a .onnx file", f.out))
	}
	if cfg.Method, err = prune.ParseMethod(f.method); err != nil {
		errs = append(errs, "--method: "+err.Error())
	}
	if cfg.Schedule, err = prune.ParseSchedule(f.schedule); err != nil {
		errs = append(errs, "--schedule: "+err.Error())
	}
	if cfg.Criterion, err = prune.ParseCriterion(f.criterion); err != nil {
		errs = append(errs, "--criterion: "+err.Error())
	}
	switch {
	case f.planFile != "" && f.target != "":
		errs = append(errs, "give --target or --plan, not both")
	case f.planFile != "":
		cfg.Target = prune.Target{Kind: prune.TargetPlan}
		if cfg.Plan, err = prune.ReadPlanFile(f.planFile); err != nil {
			errs = append(errs, err.Error())
		}
	case f.target == "":
		errs = append(errs, "--target is required (or --plan for structured)")
	default:
		if cfg.Target, err = prune.ParseTarget(f.target); err != nil {
			errs = append(errs, "--target: "+err.Error())
		}
	}
	if f.sensFile != "" {
		c, err := sensitivity.ReadFile(f.sensFile)
		if err != nil {
			errs = append(errs, err.Error())
		} else {
			cfg.Curves = c.PlanCurves()
		}
	}
	if f.byLatency {
		if cfg.Method != prune.Structured || f.sensFile == "" || cfg.Target.Kind != prune.TargetMACs && cfg.Target.Kind != prune.TargetParams {
			errs = append(errs, "--plan-by-latency plans --method structured to a --target of params or macs from --sensitivity curves")
		}
		cfg.Search = &prune.LatencySearch{Threads: f.threads}
	}
	if f.epochs < 0 || f.stages < 1 || f.round < 1 || f.batch < 1 || f.threads < 0 {
		errs = append(errs, fmt.Sprintf("--finetune-epochs %d, --stages %d, --round %d, --batch %d, --threads %d: want epochs ≥ 0, threads ≥ 0, the rest ≥ 1",
			f.epochs, f.stages, f.round, f.batch, f.threads))
	}
	if !(f.lr > 0) || f.lr > 10 {
		errs = append(errs, fmt.Sprintf("--lr %v: want a rate in (0, 10]", f.lr))
	}
	if f.valSplit < 0 || f.valSplit >= 1 {
		errs = append(errs, fmt.Sprintf("--val-split %v: want a share in [0, 1)", f.valSplit))
	}
	if !(f.tolerance > 0) {
		errs = append(errs, fmt.Sprintf("--tolerance %v: want > 0", f.tolerance))
	}
	if cfg.Train.Optimizer, err = parseOptimizer(f.optimizer); err != nil {
		errs = append(errs, err.Error())
	}
	switch sch := train.ScheduleKind(f.lrSchedule); sch {
	case train.Constant:
		cfg.Train.Schedule = sch
	case train.Cosine:
		cfg.Train.Schedule, cfg.Train.MinLR = sch, float32(f.lr/20)
	default:
		errs = append(errs, fmt.Sprintf("--lr-schedule %q: want constant or cosine", f.lrSchedule))
	}
	if !(f.weightDecay >= 0) || f.weightDecay >= 1 {
		errs = append(errs, fmt.Sprintf("--weight-decay %v: want a value in [0, 1)", f.weightDecay))
	}
	cfg.Train.WeightDecay = float32(f.weightDecay)
	if !(f.distill >= 0 && f.distill <= 1) {
		errs = append(errs, fmt.Sprintf("--distill %v: want a weight in [0, 1]", f.distill))
	}
	if !(f.temperature > 0) || math.IsInf(f.temperature, 0) {
		errs = append(errs, fmt.Sprintf("--temperature %v: want > 0", f.temperature))
	}
	cfg.Train.DistillWeight, cfg.Train.Temperature = float32(f.distill), float32(f.temperature)
	if len(errs) > 0 {
		return prune.Config{}, fmt.Errorf("prune: %s", strings.Join(errs, "; "))
	}
	return cfg, nil
}

func runPrune(cmd *cobra.Command, model string, f pruneFlags) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	g, err := onnx.ReadFile(model)
	if err != nil {
		return err
	}
	trainSet, err := data.Load(f.dataset, "train")
	if err != nil {
		return err
	}
	if f.valSplit > 0 {
		if cfg.TrainSet, cfg.ValSet, err = trainSet.Split(f.valSplit, f.seed); err != nil {
			return err
		}
	} else {
		cfg.TrainSet = trainSet
	}
	testSet, err := data.Load(f.dataset, "test")
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Train.Progress = func(p train.Progress) {
		if p.Step == p.Steps {
			fmt.Fprintf(stderr, "fine-tune epoch %d/%d: loss %.4f, %.0f samples/s\n", p.Epoch, p.Epochs, p.Loss, p.SamplesPerSec)
		}
	}
	mc := prune.MeasureConfig{Sparse: cfg.Method.Unstructured(), Threads: f.threads}
	if !f.noLatency {
		mc.Batches = []int{1, 64}
	}
	ctx := cmd.Context()
	start := time.Now()
	if f.distill > 0 {
		// The unpruned model teaches its pruned copy (prune never changes g).
		cfg.Train.Teacher = g
	}
	res, err := prune.Prune(ctx, g, cfg)
	if err != nil {
		return err
	}
	before, after, err := prune.MeasurePair(ctx, g, res.Graph, testSet, mc)
	if err != nil {
		return err
	}
	if err := onnx.WriteFile(f.out, res.Graph); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s → %s: %s, target %s, %s schedule, %.2f%% of the prunable %s removed, in %s\n", model, f.out, cfg.Method,
		cfg.Target, cfg.Schedule, 100*res.Sparsity, map[bool]string{true: "weights", false: "units"}[cfg.Method.Unstructured()],
		time.Since(start).Round(time.Second))
	if res.Kept != nil {
		fmt.Fprintf(out, "kept units per group: %v\n", res.Kept)
	}
	fmt.Fprintf(out, "accuracy on %s (%d samples)\n", testSet.Name, testSet.Len())
	return prune.WriteComparison(out, before, after)
}
