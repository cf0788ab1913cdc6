package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// TestPruneFlagsFineTuning checks that the fine-tuning flags reach the training
// configuration and that bad values are refused with an error naming the flag.
func TestPruneFlagsFineTuning(t *testing.T) {
	ok := pruneFlags{dataset: "mnist", method: "unstructured-layer", target: "sparsity=0.9", out: "v.onnx",
		schedule: "cubic", criterion: "l1", optimizer: "adam", lrSchedule: "cosine", epochs: 4, round: 1, stages: 4,
		batch: 64, lr: 0.001, valSplit: 0.1, tolerance: 0.5, weightDecay: 1e-4, distill: 0.5, temperature: 4}
	cfg, err := ok.config()
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.Train
	if tc.Optimizer != train.Adam || tc.Schedule != train.Cosine || tc.MinLR != float32(0.001/20) ||
		tc.WeightDecay != 1e-4 || tc.DistillWeight != 0.5 || tc.Temperature != 4 {
		t.Errorf("train config %+v does not carry the flags", tc)
	}
	for _, bad := range []struct {
		flag string
		set  func(f *pruneFlags)
	}{
		{"--optimizer", func(f *pruneFlags) { f.optimizer = "rmsprop" }},
		{"--lr-schedule", func(f *pruneFlags) { f.lrSchedule = "linear" }},
		{"--weight-decay", func(f *pruneFlags) { f.weightDecay = -1 }},
		{"--distill", func(f *pruneFlags) { f.distill = 1.5 }},
		{"--temperature", func(f *pruneFlags) { f.temperature = 0 }},
	} {
		f := ok
		bad.set(&f)
		if _, err := f.config(); err == nil || !strings.Contains(err.Error(), bad.flag) {
			t.Errorf("%s: got error %v, want one naming the flag", bad.flag, err)
		}
	}
}

// TestPruneFlagsPlanByLatency checks that --plan-by-latency asks for a latency search
// with the engine's threads, and is refused, naming the flag, without a structured
// method, a params or MACs target, or sensitivity curves.
func TestPruneFlagsPlanByLatency(t *testing.T) {
	dir := t.TempDir()
	sens := filepath.Join(dir, "sens.json")
	c := &sensitivity.Curves{Version: sensitivity.FormatVersion, Model: "m", Method: "structured", Baseline: 91, Ratios: []float64{0.5},
		Layers: []sensitivity.LayerCurve{{Layer: "fc1", Units: 300, Accuracy: []float64{90}, Drop: []float64{1}}}}
	if err := c.WriteFile(sens); err != nil {
		t.Fatal(err)
	}
	ok := pruneFlags{dataset: "mnist", method: "structured", target: "macs=0.25x", out: "v.onnx", sensFile: sens, byLatency: true,
		schedule: "oneshot", criterion: "l1", optimizer: "sgd", lrSchedule: "constant", round: 4, stages: 1, batch: 64, lr: 0.01,
		valSplit: 0.1, tolerance: 0.5, temperature: 4, threads: 2}
	cfg, err := ok.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Search == nil || cfg.Search.Threads != 2 || len(cfg.Curves) != 1 {
		t.Fatalf("search %+v, %d curves: want a latency search on 2 threads with the file's curve", cfg.Search, len(cfg.Curves))
	}
	for _, bad := range []func(f *pruneFlags){
		func(f *pruneFlags) { f.method = "unstructured-global" },
		func(f *pruneFlags) { f.target = "sparsity=0.5" },
		func(f *pruneFlags) { f.sensFile = "" },
	} {
		f := ok
		bad(&f)
		if _, err := f.config(); err == nil || !strings.Contains(err.Error(), "--plan-by-latency") {
			t.Errorf("%+v: got error %v, want one naming --plan-by-latency", f, err)
		}
	}
}
