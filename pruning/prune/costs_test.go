package prune

import (
	"math"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/plan"
)

// TestMACsTermsPredictPrunedMACs checks the planner's bilinear cost model against
// pruning/metrics on really pruned models: the modelled MACs of Conv, Gemm and MatMul
// at the kept shares equal the measured ones.
func TestMACsTermsPredictPrunedMACs(t *testing.T) {
	for name, g := range testModels(t) {
		t.Run(name, func(t *testing.T) {
			d := mustBuild(t, g)
			terms, err := d.MACsTerms()
			if err != nil {
				t.Fatal(err)
			}
			weightMACs := func(r *metrics.Report) float64 {
				var s float64
				for _, l := range r.Layers {
					if l.Op == "Conv" || l.Op == "Gemm" || l.Op == "MatMul" {
						s += float64(l.MACs)
					}
				}
				return s
			}
			r0, err := metrics.Measure(g)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := plan.Cost(terms, nil), weightMACs(r0); got != want {
				t.Fatalf("unpruned: modelled %v, measured %v", got, want)
			}
			keep := map[string]float64{}
			remove := map[string][]int{}
			for i, gr := range d.Groups {
				n := gr.Size() - (i%3+1)*gr.Size()/5
				keep[gr.Name] = float64(n) / float64(gr.Size())
				for j := n; j < gr.Size(); j++ {
					remove[gr.Name] = append(remove[gr.Name], j)
				}
			}
			pruned, err := d.Remove(remove)
			if err != nil {
				t.Fatal(err)
			}
			r1, err := metrics.Measure(pruned)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := plan.Cost(terms, keep), weightMACs(r1); math.Abs(got-want) > 1e-6*want {
				t.Fatalf("pruned at %v: modelled %v, measured %v", keep, got, want)
			}
			// Latency terms with every node at 1 scale every node by its shares.
			times := map[string]float64{}
			for _, n := range g.Nodes {
				times[n.Name] = 1
			}
			if lt := d.LatencyTerms(times); plan.Cost(lt, keep) >= plan.Cost(lt, nil) {
				t.Errorf("latency model does not shrink with the keep ratios")
			}
		})
	}
}
