package prune

import (
	"math"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func TestMasks(t *testing.T) {
	g := mlp(t, 30, 20)
	m, err := GlobalMasks(g, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	if s := m.Sparsity(); math.Abs(s-0.8) > 1e-4 {
		t.Fatalf("global sparsity %v, want 0.8", s)
	}
	folded := m.Fold(g)
	for p, keep := range m {
		for i, k := range keep {
			if !k && folded.Params[p].Data[i] != 0 {
				t.Fatalf("Fold left %s[%d] = %v", p, i, folded.Params[p].Data[i])
			}
			if k && folded.Params[p].Data[i] != g.Params[p].Data[i] {
				t.Fatalf("Fold changed kept %s[%d]", p, i)
			}
		}
	}
	// The global threshold: every pruned magnitude is at most every kept one.
	var maxPruned, minKept float32 = 0, math.MaxFloat32
	for p, keep := range m {
		for i, k := range keep {
			a := abs32(g.Params[p].Data[i])
			if k {
				minKept = min(minKept, a)
			} else {
				maxPruned = max(maxPruned, a)
			}
		}
	}
	if maxPruned > minKept {
		t.Fatalf("pruned magnitude %v above kept %v", maxPruned, minKept)
	}
	grads := map[string]*tensor.Tensor{}
	for p, tns := range g.Params {
		grads[p] = tensor.New(tns.Shape...)
		for i := range grads[p].Data {
			grads[p].Data[i] = 1
		}
	}
	m.ZeroGrads(grads)
	for p, keep := range m {
		for i, k := range keep {
			if got := grads[p].Data[i]; (got == 0) != !k {
				t.Fatalf("grad %s[%d] = %v with keep %v", p, i, got, k)
			}
		}
	}
	lm, err := LayerMasks(g, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range WeightLayers(g) {
		if s := lm.LayerSparsity(l.Param); math.Abs(s-0.5) > 1.0/float64(l.Size) {
			t.Errorf("layer %s sparsity %v, want 0.5", l.Param, s)
		}
	}
	if _, err := PerLayerMasks(g, map[string]float64{"nope": 0.5}); err == nil {
		t.Error("PerLayerMasks with an unknown weight: got no error")
	}
}
