package main

import (
	"strings"
	"testing"

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
