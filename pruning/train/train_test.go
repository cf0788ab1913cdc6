package train

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// mnist loads real MNIST from the GoMNIST module and keeps the first n training and m
// test samples.
func mnist(t *testing.T, n, m int) (train, test *data.Dataset) {
	t.Helper()
	tr, err := data.Load("mnist", "train")
	if err != nil {
		t.Fatalf("load MNIST: %v", err)
	}
	te, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatalf("load MNIST: %v", err)
	}
	return tr.Subset("mnist-train", seq(n)), te.Subset("mnist-test", seq(m))
}

func seq(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func TestFitLeNet300100OnMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real MNIST; skipped in -short")
	}
	trainSet, testSet := mnist(t, 8000, 2000)
	g, err := models.Build("lenet-300-100", 1)
	if err != nil {
		t.Fatal(err)
	}
	var progress []Progress
	steps := 0
	h, err := Fit(context.Background(), g, trainSet, nil, Config{
		Epochs: 1, BatchSize: 32, LR: 0.02, Momentum: 0.9, WeightDecay: 1e-4, Seed: 1,
		Progress:  func(p Progress) { progress = append(progress, p) },
		AfterStep: func() { steps++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSteps := (8000 + 31) / 32
	if h.Steps != wantSteps || steps != wantSteps || len(progress) != wantSteps {
		t.Errorf("steps: history %d, AfterStep %d, progress %d; want %d", h.Steps, steps, len(progress), wantSteps)
	}
	last := progress[len(progress)-1]
	if last.SamplesPerSec <= 0 || last.Step != wantSteps || last.Loss <= 0 {
		t.Errorf("last progress %+v", last)
	}
	acc, loss, confusion, err := Evaluate(context.Background(), g, testSet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lenet-300-100, 1 epoch on 8000 MNIST samples: test accuracy %.4f, loss %.4f, train %.0f samples/s", acc, loss, h.Epochs[0].SamplesPerSec)
	if acc < 0.85 {
		t.Errorf("test accuracy %.4f, want > 0.85 (PyTorch gets 0.882 on this subset and schedule)", acc)
	}
	total := 0
	for _, row := range confusion {
		for _, c := range row {
			total += c
		}
	}
	if len(confusion) != 10 || total != testSet.Len() {
		t.Errorf("confusion matrix %d rows, %d samples; want 10 rows, %d", len(confusion), total, testSet.Len())
	}
}

// synthetic is a separable 3-class problem: class k has a bump in pixel block k.
func synthetic(n int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 2))
	x := tensor.New(n, 1, 28, 28)
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(3)
		img := x.Data[i*784 : (i+1)*784]
		for j := range img {
			img[j] = 0.1 * r.Float32()
		}
		for j := 0; j < 50; j++ {
			img[y[i]*200+j] += 1
		}
	}
	return &data.Dataset{Name: "synthetic", X: x, Labels: y, NumClasses: 10}
}

func TestFitIsReproducible(t *testing.T) {
	set := synthetic(48, 1)
	run := func(arch string, threads int, opt OptimizerKind, sched ScheduleKind) *graph.Graph {
		g, _ := models.Build(arch, 3)
		if _, err := Fit(context.Background(), g, set, nil, Config{
			Epochs: 2, BatchSize: 16, MaxSteps: 4, Optimizer: opt, Schedule: sched, LR: 0.01, Seed: 9, Threads: threads,
		}); err != nil {
			t.Fatal(err)
		}
		return g
	}
	for _, tc := range []struct {
		arch  string
		opt   OptimizerKind
		sched ScheduleKind
	}{{"lenet-300-100", SGD, Cosine}, {"resnet-8", Adam, Step}} {
		a, b, c := run(tc.arch, 1, tc.opt, tc.sched), run(tc.arch, 1, tc.opt, tc.sched), run(tc.arch, 2, tc.opt, tc.sched)
		for name, p := range a.Params {
			for i, v := range p.Data {
				if v != b.Params[name].Data[i] || v != c.Params[name].Data[i] {
					t.Fatalf("%s %s[%d]: runs differ (%v, %v, %v with 1, 1, 2 threads)", tc.arch, name, i, v, b.Params[name].Data[i], c.Params[name].Data[i])
				}
			}
		}
	}
}

func TestFitEarlyStopAndCheckpoint(t *testing.T) {
	trainSet, valSet := synthetic(256, 1), synthetic(64, 2)
	// Validation labels that have nothing to do with the images: the more the model
	// learns the training set, the worse the validation loss gets.
	r := rand.New(rand.NewPCG(5, 5))
	for i := range valSet.Labels {
		valSet.Labels[i] = r.IntN(10)
	}
	g, _ := models.Build("lenet-300-100", 1)
	var epochs []int
	h, err := Fit(context.Background(), g, trainSet, valSet, Config{
		Epochs: 30, BatchSize: 32, LR: 0.01, EarlyStopPatience: 2, Seed: 1,
		Checkpoint: func(cg *graph.Graph, epoch int) error {
			if cg != g {
				return errors.New("checkpoint got another graph")
			}
			epochs = append(epochs, epoch)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Stopped || len(h.Epochs) >= 30 {
		t.Fatalf("ran %d epochs, stopped=%v; want an early stop", len(h.Epochs), h.Stopped)
	}
	if len(epochs) != len(h.Epochs) {
		t.Errorf("checkpoints %v for %d epochs", epochs, len(h.Epochs))
	}
	if h.BestEpoch != len(h.Epochs)-2 {
		t.Errorf("best epoch %d of %d with patience 2", h.BestEpoch, len(h.Epochs))
	}
	// The best weights are restored.
	_, loss, _, err := Evaluate(context.Background(), g, valSet)
	if err != nil {
		t.Fatal(err)
	}
	if want := h.Epochs[h.BestEpoch-1].ValLoss; loss != want {
		t.Errorf("validation loss after restore %v, want best %v", loss, want)
	}
	boom := errors.New("disk full")
	_, err = Fit(context.Background(), g, trainSet, nil, Config{Epochs: 1, Checkpoint: func(*graph.Graph, int) error { return boom }})
	if !errors.Is(err, boom) {
		t.Errorf("checkpoint error: got %v, want it wrapped", err)
	}
}

func TestFitRejectsBadInput(t *testing.T) {
	g, _ := models.Build("lenet-300-100", 1)
	good := synthetic(10, 1)
	bad := synthetic(10, 1)
	bad.Labels[3] = 12
	wrongShape := &data.Dataset{Name: "wide", X: tensor.New(4, 1, 28, 27), Labels: []int{0, 1, 2, 3}, NumClasses: 4}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		set   *data.Dataset
		cfg   Config
		wants string
	}{
		{"label out of range", context.Background(), bad, Config{}, "label 12 of sample 3"},
		{"unknown optimizer", context.Background(), good, Config{Optimizer: "rmsprop"}, `unknown optimizer "rmsprop"`},
		{"unknown schedule", context.Background(), good, Config{Schedule: "linear"}, `unknown schedule "linear"`},
		{"negative lr", context.Background(), good, Config{LR: -1}, "negative rate"},
		{"early stop without validation", context.Background(), good, Config{EarlyStopPatience: 1}, "needs a validation set"},
		{"wrong sample shape", context.Background(), wrongShape, Config{}, "input"},
		{"empty set", context.Background(), &data.Dataset{Name: "empty", X: tensor.New(0, 1, 28, 28)}, Config{}, "is empty"},
		{"cancelled", ctx, good, Config{}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Fit(tt.ctx, g, tt.set, nil, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wants) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wants)
			}
		})
	}
}

func TestScheduleRates(t *testing.T) {
	step, _ := Config{LR: 1, Schedule: Step, StepEpochs: 2, Gamma: 0.5, Epochs: 6}.withDefaults()
	for epoch, want := range []float32{1, 1, 0.5, 0.5, 0.25} {
		if got := step.rateAt(epoch, 0, 10, 60); got != want {
			t.Errorf("step epoch %d: got %v, want %v", epoch, got, want)
		}
	}
	cos, _ := Config{LR: 1, MinLR: 0, Schedule: Cosine}.withDefaults()
	if got := cos.rateAt(0, 0, 10, 100); got != 1 {
		t.Errorf("cosine start: got %v, want 1", got)
	}
	if got := cos.rateAt(5, 0, 10, 100); got < 0.49 || got > 0.51 {
		t.Errorf("cosine middle: got %v, want 0.5", got)
	}
	if got := cos.rateAt(9, 9, 10, 100); got > 0.01 {
		t.Errorf("cosine end: got %v, want about 0", got)
	}
}
