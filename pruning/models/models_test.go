package models

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func randInput(seed uint64, n int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(n, 1, 28, 28)
	for i := range x.Data {
		x.Data[i] = r.Float32()
	}
	return x
}

func TestBuildRunsEveryArch(t *testing.T) {
	wantParams := map[string]int{
		"lenet-300-100": 784*300 + 300 + 300*100 + 100 + 100*10 + 10,
		"lenet-5":       20*25 + 20 + 50*20*25 + 50 + 800*500 + 500 + 500*10 + 10,
	}
	for _, arch := range Archs() {
		t.Run(arch, func(t *testing.T) {
			g, err := Build(arch, 1)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for name, p := range g.Params {
				if g.Trainable(name) {
					n += p.Len()
				}
			}
			if want, ok := wantParams[arch]; ok && n != want {
				t.Errorf("trainable parameters: got %d, want %d", n, want)
			}
			ex, err := graph.Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []int{1, 3} {
				out, err := ex.Run(context.Background(), map[string]*tensor.Tensor{InputName: randInput(2, b)})
				if err != nil {
					t.Fatal(err)
				}
				y := out[OutputName]
				if !tensor.SameShape(y.Shape, []int{b, 10}) {
					t.Fatalf("batch %d: logits shape %v, want [%d 10]", b, y.Shape, b)
				}
				for _, v := range y.Data {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("non-finite logit %v", v)
					}
				}
			}
		})
	}
}

func TestBuildIsSeeded(t *testing.T) {
	a, _ := Build("resnet-8", 42)
	b, _ := Build("resnet-8", 42)
	c, _ := Build("resnet-8", 43)
	w := "layer2.conv1.weight"
	if !equal(a.Params[w].Data, b.Params[w].Data) {
		t.Error("same seed gave different weights")
	}
	if equal(a.Params[w].Data, c.Params[w].Data) {
		t.Error("different seeds gave the same weights")
	}
	if _, err := Build("vgg-99", 1); err == nil || !strings.Contains(err.Error(), "lenet-5") {
		t.Errorf("unknown arch: got %v, want an error listing the known ones", err)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// closeRel reports whether a and b agree elementwise within tol relative to
// max(1, |b|).
func closeRel(a, b []float32, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(float64(a[i])-float64(b[i])) > tol*max(1, math.Abs(float64(b[i]))) {
			return false
		}
	}
	return true
}

// trainStepGrads runs one training step of arch at batch 8 and returns the gradients.
func trainStepGrads(t *testing.T, arch string, threads int) map[string]*tensor.Tensor {
	t.Helper()
	g, err := Build(arch, 5)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := graph.Compile(g, graph.WithTraining(true), graph.WithThreads(threads))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ex.Forward(context.Background(), map[string]*tensor.Tensor{InputName: randInput(3, 8)})
	if err != nil {
		t.Fatal(err)
	}
	_, grad := graph.SoftmaxCrossEntropy(out[OutputName], []int{0, 1, 2, 3, 4, 5, 6, 7})
	if err := ex.Backward(context.Background(), map[string]*tensor.Tensor{OutputName: grad}); err != nil {
		t.Fatal(err)
	}
	return ex.Grads()
}

func TestGradientsIndependentOfThreads(t *testing.T) {
	for _, arch := range Archs() {
		t.Run(arch, func(t *testing.T) {
			one, two := trainStepGrads(t, arch, 1), trainStepGrads(t, arch, 2)
			if len(one) == 0 {
				t.Fatal("no gradients")
			}
			for name, g := range one {
				if !equal(g.Data, two[name].Data) {
					t.Errorf("%s: gradients differ between 1 and 2 threads", name)
				}
			}
		})
	}
}

// TestResNetGradientMatchesFiniteDifference checks a few weights of the whole residual
// model in training mode (batch statistics), end to end through the loss.
func TestResNetGradientMatchesFiniteDifference(t *testing.T) {
	g, _ := Build("resnet-8", 7)
	x := randInput(4, 4)
	labels := []int{1, 3, 5, 7}
	lossOf := func() float64 {
		ex, err := graph.Compile(g, graph.WithTraining(true))
		if err != nil {
			t.Fatal(err)
		}
		out, err := ex.Forward(context.Background(), map[string]*tensor.Tensor{InputName: x})
		if err != nil {
			t.Fatal(err)
		}
		l, _ := graph.SoftmaxCrossEntropy(out[OutputName], labels)
		return float64(l)
	}
	ex, _ := graph.Compile(g, graph.WithTraining(true))
	out, _ := ex.Forward(context.Background(), map[string]*tensor.Tensor{InputName: x})
	_, grad := graph.SoftmaxCrossEntropy(out[OutputName], labels)
	if err := ex.Backward(context.Background(), map[string]*tensor.Tensor{OutputName: grad}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stem.conv.weight", "layer1.bn1.weight", "layer2.down.conv.weight", "layer3.conv2.weight", "fc.bias"} {
		p, gr := g.Params[name], ex.Grads()[name]
		for _, i := range []int{0, p.Len() / 2, p.Len() - 1} {
			const eps = 1e-2
			orig := p.Data[i]
			p.Data[i] = orig + eps
			up := lossOf()
			p.Data[i] = orig - eps
			down := lossOf()
			p.Data[i] = orig
			num := (up - down) / (2 * eps)
			if math.Abs(float64(gr.Data[i])-num) > 5e-3*max(1, math.Abs(num))+2e-3 {
				t.Errorf("d/d%s[%d]: got %.5f, finite difference %.5f", name, i, gr.Data[i], num)
			}
		}
	}
}

// TestSharedBuffersMatchPrivate compares an inference executor, whose memory plan
// reuses dead activation buffers, with a training executor, which keeps every
// activation, on the same inputs. The inference executor folds BatchNormalization's
// scale into the filters, so the two round differently: within 1e-5 relative, where
// stale data in a reused buffer would be off by whole units.
func TestSharedBuffersMatchPrivate(t *testing.T) {
	for _, arch := range Archs() {
		t.Run(arch, func(t *testing.T) {
			g, _ := Build(arch, 11)
			shared, err := graph.Compile(g)
			if err != nil {
				t.Fatal(err)
			}
			private, err := graph.Compile(g, graph.WithTraining(true))
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []int{1, 5} {
				in := map[string]*tensor.Tensor{InputName: randInput(6, b)}
				want, err := private.Run(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				// Twice, so that stale data left in reused buffers would show.
				for i := 0; i < 2; i++ {
					got, err := shared.Run(context.Background(), in)
					if err != nil {
						t.Fatal(err)
					}
					if !closeRel(got[OutputName].Data, want[OutputName].Data, 1e-5) {
						t.Fatalf("batch %d run %d: shared-buffer logits %v, want %v", b, i, got[OutputName].Data[:4], want[OutputName].Data[:4])
					}
				}
			}
		})
	}
}
