package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// row is one line of the result table.
type row struct {
	Data, Arch, Recipe, Method    string
	Base                          string
	BaseAcc, Acc                  float64
	NonZeroRatio, MACsRatio       float64
	Lat1Base, Lat1, Lat1Sparse    time.Duration
	Lat64Base, Lat64, Lat64Sparse time.Duration
	Seed                          uint64
	Pass                          bool
	Note                          string
	Took                          time.Duration
}

func runRecipe(ctx context.Context, log *slog.Logger, ds string, r recipe, base *graph.Graph, s *sets, threads int, cache string, seed uint64, reuse bool) (row, error) {
	out := fmt.Sprintf("%s-%s-%s", r.Arch, ds, r.Name)
	if seed != 2 {
		out += fmt.Sprintf("-seed%d", seed)
	}
	path := filepath.Join(cache, out+".onnx")
	if reuse {
		g, err := onnx.ReadFile(path)
		switch {
		case err == nil:
			log.Info("bench: measuring the cached variant", "file", path)
			return measureRecipe(ctx, ds, r, base, g, s, threads, seed, 0)
		case !errors.Is(err, fs.ErrNotExist):
			return row{}, fmt.Errorf("bench: cached variant: %w", err)
		}
	}
	cfg := r.Cfg
	cfg.TrainSet, cfg.ValSet, cfg.Log = head(s.train, r.Samples), s.val, log
	if cfg.Search != nil {
		// The search times on the threads the variant is measured on (-threads).
		search := *cfg.Search
		search.Threads = threads
		cfg.Search = &search
	}
	cfg.Train = train.Config{Epochs: r.Epochs, LR: r.LR, WeightDecay: r.WD, Seed: seed, Threads: threads, Schedule: train.Cosine, MinLR: r.LR / 20,
		Progress: func(p train.Progress) {
			if p.Step == p.Steps {
				log.Info("bench: fine-tune", "arch", r.Arch, "epoch", p.Epoch, "of", p.Epochs, "loss", p.Loss, "samples/s", int(p.SamplesPerSec))
			}
		}}
	cfg.Train.Optimizer = r.Optimizer
	if r.Distill > 0 {
		cfg.Train.Teacher, cfg.Train.DistillWeight, cfg.Train.Temperature = base, r.Distill, r.Temp
	}
	if r.Rewind {
		b := r.base()
		cfg.Train.LR, cfg.Train.WeightDecay, cfg.Train.Optimizer, cfg.Train.MinLR = b.LR, b.WD, b.Optimizer, 0
	}
	start := time.Now()
	if r.Sensitivity {
		n := min(r.SensSamples, s.val.Len())
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		curves, err := sensitivity.Analyze(ctx, base, s.val.Subset(s.val.Name, idx), sensitivity.Config{
			Structured: r.Cfg.Method == prune.Structured, Criterion: r.Cfg.Criterion, Ratios: []float64{0.2, 0.4, 0.6, 0.8, 0.9, 0.95}, Model: r.Arch})
		if err != nil {
			return row{}, err
		}
		if err := curves.WriteTable(os.Stderr); err != nil {
			return row{}, err
		}
		if err := curves.WriteFile(filepath.Join(cache, fmt.Sprintf("%s-%s-sens.json", r.Arch, ds))); err != nil {
			return row{}, err
		}
		cfg.Curves = curves.PlanCurves()
	}
	res, err := prune.Prune(ctx, base, cfg)
	if err != nil {
		return row{}, err
	}
	took := time.Since(start)
	if res.Kept != nil {
		log.Info("bench: structured", "arch", r.Arch, "kept", res.Kept)
	}
	if err := onnx.WriteFile(path, res.Graph); err != nil {
		return row{}, err
	}
	return measureRecipe(ctx, ds, r, base, res.Graph, s, threads, seed, took)
}

// measureRecipe measures variant against base as recipe r's bar asks, with took the
// time pruning and fine-tuning took (0: a cached variant).
func measureRecipe(ctx context.Context, ds string, r recipe, base, variant *graph.Graph, s *sets, threads int, seed uint64, took time.Duration) (row, error) {
	mc := prune.MeasureConfig{Batches: []int{1, 64}, Sparse: r.Sparse, Threads: threads, MinTime: time.Second}
	test := s.test
	if r.SpeedOnly {
		test = nil
	}
	before, after, err := prune.MeasurePair(ctx, base, variant, test, mc)
	if err != nil {
		return row{}, err
	}
	rw := row{Data: ds, Arch: r.Arch, Recipe: r.Name, Seed: seed, Method: fmt.Sprintf("%s %s %s", r.Cfg.Method, r.Cfg.Target, r.Cfg.Schedule), Base: r.base().String(),
		BaseAcc: before.Accuracy, Acc: after.Accuracy,
		NonZeroRatio: float64(before.NonZero) / float64(after.NonZero), MACsRatio: float64(before.MACs) / float64(after.MACs),
		Lat1Base: before.Latency[1], Lat1: after.Latency[1], Lat1Sparse: after.SparseLatency[1],
		Lat64Base: before.Latency[64], Lat64: after.Latency[64], Lat64Sparse: after.SparseLatency[64], Took: took}
	// Accuracies are percentages of whole test images: compare the drop with a
	// tolerance far below one image, so that exactly 0.10 pp (10 of 10 000) passes a
	// 0.1 pp bar instead of failing on float rounding.
	drop := before.Accuracy - after.Accuracy - 1e-9
	if r.SparseSpeed > 0 {
		speed := float64(rw.Lat1) / float64(rw.Lat1Sparse)
		rw.Pass = speed >= r.SparseSpeed
		rw.Note = fmt.Sprintf("bar: sparse kernels ≥ %.0fx faster than the dense form at batch 1: %.2fx", r.SparseSpeed, speed)
	} else if r.SpeedOnly {
		speed := float64(rw.Lat1Base) / float64(rw.Lat1)
		rw.Pass = rw.MACsRatio >= r.MinRatio && speed >= 0.7*rw.MACsRatio
		rw.Note = fmt.Sprintf("speed only (untrained): MACs ≥ %.0fx, b1 speedup %.2fx ≥ 0.7×MACs ratio = %.2fx", r.MinRatio, speed, 0.7*rw.MACsRatio)
	} else if r.Cfg.Method == prune.Structured {
		speed := float64(rw.Lat1Base) / float64(rw.Lat1)
		rw.Pass = drop <= r.MaxDrop && rw.MACsRatio >= r.MinRatio && speed >= 0.7*rw.MACsRatio
		rw.Note = fmt.Sprintf("bar: MACs ≥ %.0fx, drop ≤ %.1f pp, b1 speedup %.2fx ≥ 0.7×MACs ratio = %.2fx", r.MinRatio, r.MaxDrop, speed, 0.7*rw.MACsRatio)
	} else {
		rw.Pass = drop <= r.MaxDrop && rw.NonZeroRatio >= r.MinRatio
		rw.Note = fmt.Sprintf("bar: nonzero ≥ %.0fx, drop ≤ %.1f pp", r.MinRatio, r.MaxDrop)
	}
	if err := prune.WriteComparison(os.Stderr, before, after); err != nil {
		return row{}, err
	}
	return rw, nil
}

func printRows(rows []row) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "data\tarch\trecipe\tseed\tmethod\tbase\tbase acc\tacc\tΔ pp\tnonzero ratio\tMACs ratio\tb1 base\tb1\tb1 sparse\tb64 base\tb64\tb64 sparse\tpass\tprune+finetune\tbar")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%.2f%%\t%.2f%%\t%+.2f\t%.2fx\t%.2fx\t%s\t%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n",
			r.Data, r.Arch, r.Recipe, r.Seed, r.Method, r.Base, r.BaseAcc, r.Acc, r.Acc-r.BaseAcc, r.NonZeroRatio, r.MACsRatio,
			ms(r.Lat1Base), ms(r.Lat1), ms(r.Lat1Sparse), ms(r.Lat64Base), ms(r.Lat64), ms(r.Lat64Sparse), r.Pass, r.Took.Round(time.Second), r.Note)
	}
	tw.Flush()
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond))
}
