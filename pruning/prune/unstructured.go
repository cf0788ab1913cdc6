package prune

import (
	"fmt"
	"maps"
	"math"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// GlobalMasks prunes the smallest-magnitude fraction sparsity of all prunable weights
// of g with one threshold across layers (Han et al. 2015). Elements already zero count
// as pruned first, so masks grow monotonically over an iterative schedule.
func GlobalMasks(g *graph.Graph, sparsity float64) (Masks, error) {
	if err := checkSparsity(sparsity); err != nil {
		return nil, err
	}
	layers := WeightLayers(g)
	var all []float32
	for _, l := range layers {
		for _, w := range g.Params[l.Param].Data {
			all = append(all, abs32(w))
		}
	}
	k := int(math.Round(sparsity * float64(len(all))))
	m := Masks{}
	if k == 0 {
		for _, l := range layers {
			m[l.Param] = allTrue(l.Size)
		}
		return m, nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	thr := all[k-1]
	// Ties at the threshold are pruned only until exactly k elements are gone.
	below := sort.Search(len(all), func(i int) bool { return all[i] >= thr })
	ties := k - below
	for _, l := range layers {
		keep := make([]bool, l.Size)
		for i, w := range g.Params[l.Param].Data {
			a := abs32(w)
			switch {
			case a < thr:
			case a == thr && ties > 0:
				ties--
			default:
				keep[i] = true
			}
		}
		m[l.Param] = keep
	}
	return m, nil
}

// LayerMasks prunes the same fraction of every prunable weight of g by magnitude.
func LayerMasks(g *graph.Graph, sparsity float64) (Masks, error) {
	if err := checkSparsity(sparsity); err != nil {
		return nil, err
	}
	per := map[string]float64{}
	for _, l := range WeightLayers(g) {
		per[l.Param] = sparsity
	}
	return PerLayerMasks(g, per)
}

// PerLayerMasks prunes each named weight by magnitude to its own sparsity; weights not
// named stay dense.
func PerLayerMasks(g *graph.Graph, sparsity map[string]float64) (Masks, error) {
	m := Masks{}
	for _, l := range WeightLayers(g) {
		s, ok := sparsity[l.Param]
		if !ok {
			m[l.Param] = allTrue(l.Size)
			continue
		}
		if err := checkSparsity(s); err != nil {
			return nil, fmt.Errorf("prune: layer %s: %w", l.Param, err)
		}
		m[l.Param] = magnitudeMask(g.Params[l.Param].Data, int(math.Round(s*float64(l.Size))))
	}
	for name := range sparsity {
		if _, ok := m[name]; !ok {
			return nil, fmt.Errorf("prune: unknown weight %q (weights: %v)", name, weightNames(g))
		}
	}
	return m, nil
}

// Bounds limits the sparsity of one layer in hybrid pruning.
type Bounds struct {
	Floor, Cap float64
}

// HybridMasks ranks all weights globally like GlobalMasks, but clamps each layer's
// sparsity into its bounds (taken from sensitivity curves: layers that hurt most get a
// low cap and keep more), then moves the global threshold until the total sparsity is
// met. Floors that together exceed the target are scaled down. It fails when the caps
// cannot reach the target.
func HybridMasks(g *graph.Graph, sparsity float64, bounds map[string]Bounds) (Masks, error) {
	if err := checkSparsity(sparsity); err != nil {
		return nil, err
	}
	layers := WeightLayers(g)
	bounds = maps.Clone(bounds)
	for name := range bounds {
		if !hasWeight(layers, name) {
			return nil, fmt.Errorf("prune: hybrid: bounds for unknown weight %q (weights: %v)", name, weightNames(g))
		}
	}
	sorted := map[string][]float32{}
	var total, floorSum, capSum float64
	bound := func(p string) Bounds {
		if b, ok := bounds[p]; ok {
			return b
		}
		return Bounds{Floor: 0, Cap: 1}
	}
	for _, l := range layers {
		b := bound(l.Param)
		if b.Floor < 0 || b.Cap > 1 || b.Floor > b.Cap {
			return nil, fmt.Errorf("prune: hybrid: weight %s: bounds [%v, %v] not within 0 ≤ floor ≤ cap ≤ 1", l.Param, b.Floor, b.Cap)
		}
		a := make([]float32, l.Size)
		for i, w := range g.Params[l.Param].Data {
			a[i] = abs32(w)
		}
		sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
		sorted[l.Param] = a
		n := float64(l.Size)
		total += n
		floorSum += b.Floor * n
		capSum += b.Cap * n
	}
	want := sparsity * total
	if capSum < want-0.5 {
		return nil, fmt.Errorf("prune: hybrid: the per-layer caps allow at most %.4f sparsity, below the target %.4f; raise the tolerance or lower the target", capSum/total, sparsity)
	}
	if floorSum > want {
		// Floors that overshoot a modest target are scaled down together: they mark
		// where pruning is cheap, not a duty.
		scale := want / floorSum
		for k, b := range bounds {
			b.Floor *= scale
			bounds[k] = b
		}
	}
	layerFrac := func(thr float64) map[string]float64 {
		out := map[string]float64{}
		for _, l := range layers {
			a := sorted[l.Param]
			below := sort.Search(len(a), func(i int) bool { return float64(a[i]) >= thr })
			b := bound(l.Param)
			out[l.Param] = math.Min(math.Max(float64(below)/float64(len(a)), b.Floor), b.Cap)
		}
		return out
	}
	pruned := func(f map[string]float64) float64 {
		var s float64
		for _, l := range layers {
			s += f[l.Param] * float64(l.Size)
		}
		return s
	}
	lo, hi := 0.0, 0.0
	for _, a := range sorted {
		if len(a) > 0 {
			hi = math.Max(hi, float64(a[len(a)-1])*2+1)
		}
	}
	for range 100 {
		mid := (lo + hi) / 2
		if pruned(layerFrac(mid)) < want {
			lo = mid
		} else {
			hi = mid
		}
	}
	frac := layerFrac(hi)
	// Rounding each layer to whole weights leaves a small gap; take it from the layers
	// with room below their caps, the largest first.
	counts := map[string]int{}
	got := 0
	for _, l := range layers {
		counts[l.Param] = int(math.Floor(frac[l.Param] * float64(l.Size)))
		got += counts[l.Param]
	}
	need := int(math.Round(want)) - got
	order := append([]WeightLayer(nil), layers...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].Size > order[j].Size })
	for _, l := range order {
		if need <= 0 {
			break
		}
		room := int(math.Floor(bound(l.Param).Cap*float64(l.Size))) - counts[l.Param]
		take := min(room, need)
		if take > 0 {
			counts[l.Param] += take
			need -= take
		}
	}
	m := Masks{}
	for _, l := range layers {
		m[l.Param] = magnitudeMask(g.Params[l.Param].Data, counts[l.Param])
	}
	return m, nil
}

// magnitudeMask keeps all but the k smallest-magnitude elements.
func magnitudeMask(w []float32, k int) []bool {
	keep := allTrue(len(w))
	if k <= 0 {
		return keep
	}
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return abs32(w[idx[a]]) < abs32(w[idx[b]]) })
	for _, i := range idx[:min(k, len(w))] {
		keep[i] = false
	}
	return keep
}

func checkSparsity(s float64) error {
	if math.IsNaN(s) || s < 0 || s >= 1 {
		return fmt.Errorf("prune: sparsity %v not in [0, 1): a ratio of 1 would remove every weight", s)
	}
	return nil
}

func hasWeight(layers []WeightLayer, p string) bool {
	for _, l := range layers {
		if l.Param == p {
			return true
		}
	}
	return false
}

func weightNames(g *graph.Graph) []string {
	var out []string
	for _, l := range WeightLayers(g) {
		out = append(out, l.Param)
	}
	return out
}

func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
