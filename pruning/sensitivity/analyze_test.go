package sensitivity

import (
	"bytes"
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// trainedMLP trains LeNet-300-100 briefly on part of MNIST's test split and returns it
// with a held-out validation set.
func trainedMLP(t *testing.T) (*graph.Graph, *data.Dataset) {
	t.Helper()
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(set.Len(), 1)
	tr, val := set.Subset("mnist/train", idx[:3000]), set.Subset("mnist/val", idx[3000:3400])
	g, err := models.Build("lenet-300-100", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.Fit(context.Background(), g, tr, nil, train.Config{Epochs: 1, LR: 0.05, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	return g, val
}

func TestAnalyze(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model; skipped in -short")
	}
	g, val := trainedMLP(t)
	before := g.Clone()
	for _, structured := range []bool{true, false} {
		name := map[bool]string{true: "structured", false: "unstructured"}[structured]
		t.Run(name, func(t *testing.T) {
			calls := 0
			c, err := Analyze(context.Background(), g, val, Config{Structured: structured, Ratios: []float64{0.3, 0.95}, Workers: 2,
				Progress: func(done, total int, layer string, r float64) {
					calls++
					if done != calls || done > total {
						t.Errorf("progress %d/%d after %d calls", done, total, calls)
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			wantLayers := map[bool]int{true: 2, false: 3}[structured]
			if len(c.Layers) != wantLayers || calls != wantLayers*2 {
				t.Fatalf("got %d layers and %d progress calls, want %d and %d", len(c.Layers), calls, wantLayers, wantLayers*2)
			}
			if c.Baseline < 80 {
				t.Fatalf("baseline %.2f%%, want a trained model ≥ 80%%", c.Baseline)
			}
			// Cross-check one point with an independent prune and evaluation.
			l := c.Layers[0]
			var pg *graph.Graph
			if structured {
				d, err := prune.Build(g)
				if err != nil {
					t.Fatal(err)
				}
				scores, _ := d.Scores(prune.CriterionL1, nil)
				keep := d.Group(l.Layer).Size() - int(0.95*float64(d.Group(l.Layer).Size())+0.5)
				if pg, err = d.PruneStructured(map[string]int{l.Layer: keep}, scores); err != nil {
					t.Fatal(err)
				}
			} else {
				m, err := prune.PerLayerMasks(g, map[string]float64{l.Layer: 0.95})
				if err != nil {
					t.Fatal(err)
				}
				pg = m.Fold(g)
			}
			acc, _, _, err := train.Evaluate(context.Background(), pg, val)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(100*acc-l.Accuracy[1]) > 1e-9 || math.Abs(l.Drop[1]-(c.Baseline-l.Accuracy[1])) > 1e-9 {
				t.Errorf("layer %s at 0.95: recorded accuracy %v drop %v, independent evaluation %v", l.Layer, l.Accuracy[1], l.Drop[1], 100*acc)
			}
			var tb bytes.Buffer
			if err := c.WriteTable(&tb); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tb.String(), l.Layer) || !strings.Contains(tb.String(), "95%") {
				t.Errorf("table lacks the layer or the ratio:\n%s", tb.String())
			}
			png := t.TempDir() + "/sens.png"
			if err := c.WritePlot(png); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(png)
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Fatalf("plot is not a PNG (%v)", err)
			}
		})
	}
	for p, tns := range before.Params {
		for i, v := range tns.Data {
			if g.Params[p].Data[i] != v {
				t.Fatalf("Analyze changed parameter %s", p)
			}
		}
	}
}

func TestAnalyzeCancelled(t *testing.T) {
	g, err := models.Build("lenet-300-100", 1)
	if err != nil {
		t.Fatal(err)
	}
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Analyze(ctx, g, set.Subset("val", []int{0, 1, 2}), Config{}); err == nil {
		t.Fatal("got no error on a cancelled context")
	}
}
