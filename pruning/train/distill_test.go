package train

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func TestDistillLossGradientMatchesFiniteDifference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s, te := tensor.New(3, 5), tensor.New(3, 5)
	for i := range s.Data {
		s.Data[i] = 3 * (r.Float32() - 0.5)
		te.Data[i] = 3 * (r.Float32() - 0.5)
	}
	for _, temp := range []float32{1, 4} {
		_, grad := distillLoss(s, te, temp)
		for i := range s.Data {
			const h = 1e-2
			v := s.Data[i]
			s.Data[i] = v + h
			up, _ := distillLoss(s, te, temp)
			s.Data[i] = v - h
			down, _ := distillLoss(s, te, temp)
			s.Data[i] = v
			num := float64(up-down) / (2 * h)
			if math.Abs(num-float64(grad.Data[i])) > 2e-3 {
				t.Errorf("T=%v logit %d: gradient %v, finite difference %v", temp, i, grad.Data[i], num)
			}
		}
	}
	// The loss vanishes when the student matches the teacher.
	if l, g := distillLoss(te, te, 4); math.Abs(float64(l)) > 1e-6 || math.Abs(float64(g.Data[0])) > 1e-7 {
		t.Errorf("student equal to teacher: loss %v, gradient %v; want 0", l, g.Data[0])
	}
}

// A student that sees only wrong labels but distills with weight 1 learns what the
// teacher knows: the labels are ignored and the teacher's soft targets do the work.
func TestFitDistillsFromTeacher(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on real MNIST; skipped in -short")
	}
	trainSet, testSet := mnist(t, 4000, 1000)
	teacher, _ := models.Build("lenet-300-100", 1)
	if _, err := Fit(context.Background(), teacher, trainSet, nil, Config{Epochs: 2, LR: 0.05, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	tAcc, _, _, err := Evaluate(context.Background(), teacher, testSet)
	if err != nil {
		t.Fatal(err)
	}
	before := teacher.Clone()
	wrong := trainSet.Subset("wrong-labels", seq(trainSet.Len()))
	for i := range wrong.Labels {
		wrong.Labels[i] = 0
	}
	student, _ := models.Build("lenet-300-100", 2)
	if _, err := Fit(context.Background(), student, wrong, nil, Config{Epochs: 2, LR: 0.05, Seed: 1, Teacher: teacher, DistillWeight: 1, Temperature: 2}); err != nil {
		t.Fatal(err)
	}
	sAcc, _, _, err := Evaluate(context.Background(), student, testSet)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("teacher %.4f, student distilled from it with all labels 0: %.4f", tAcc, sAcc)
	if sAcc < 0.8 || sAcc < tAcc-0.08 {
		t.Errorf("distilled student accuracy %.4f, want ≥ 0.8 and within 8 pp of the teacher's %.4f", sAcc, tAcc)
	}
	for name, p := range teacher.Params {
		for i, v := range p.Data {
			if v != before.Params[name].Data[i] {
				t.Fatalf("teacher parameter %s[%d] changed from %v to %v", name, i, before.Params[name].Data[i], v)
			}
		}
	}
}

func TestFitRejectsBadDistillation(t *testing.T) {
	set := synthetic(8, 1)
	teacher, _ := models.Build("lenet-300-100", 1)
	for _, tc := range []struct {
		name  string
		cfg   Config
		wants string
	}{
		{"weight above 1", Config{Teacher: teacher, DistillWeight: 1.5}, "distillation weight 1.5"},
		{"negative temperature", Config{Teacher: teacher, Temperature: -1}, "temperature -1"},
		{"teacher without input", Config{Teacher: &graph.Graph{Name: "empty"}}, `teacher: train: graph "empty" has 0 data inputs`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := models.Build("lenet-300-100", 1)
			_, err := Fit(context.Background(), g, set, nil, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wants)
			}
		})
	}
}
