package prune

import (
	"fmt"
	"math"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Criterion names how structured pruning scores a unit; units with the lowest scores
// go first.
type Criterion string

// Structured pruning criteria.
const (
	// CriterionL1 scores a unit by the L1 norm of its filter and of the input slices of
	// its consumers (Li et al. 2017, extended to the whole coupled group).
	CriterionL1 Criterion = "l1"
	// CriterionL2 is the same with L2 norms.
	CriterionL2 Criterion = "l2"
	// CriterionBN scores by |gamma| of the group's BatchNormalization layers (Liu et al.
	// 2017, network slimming); groups without BatchNormalization fall back to L1.
	CriterionBN Criterion = "bn"
	// CriterionTaylor scores by the first-order Taylor estimate of the loss change,
	// (Σ w·∂L/∂w)² summed over batches (Molchanov et al. 2019); it needs gradients.
	CriterionTaylor Criterion = "taylor"
)

// ParseCriterion validates a criterion name.
func ParseCriterion(s string) (Criterion, error) {
	switch c := Criterion(s); c {
	case CriterionL1, CriterionL2, CriterionBN, CriterionTaylor:
		return c, nil
	}
	return "", fmt.Errorf("prune: unknown criterion %q: want l1, l2, bn or taylor", s)
}

// sliceKey identifies the slices of one parameter along one axis.
type sliceKey struct {
	param string
	axis  int
}

// Importance scores every unit of the group with criterion c; higher scores mean more
// important. Norms of different parameters are normalized by their mean over the
// group's units before they are summed, so that a wide consumer does not drown its
// producer. For CriterionTaylor pass the scores of a TaylorAccumulator instead.
func Importance(g *graph.Graph, gr *Group, c Criterion) ([]float64, error) {
	roles := map[Role]bool{RoleOut: true, RoleIn: true}
	switch c {
	case CriterionL1, CriterionL2:
	case CriterionBN:
		if groupHas(gr, RoleBNScale) {
			roles = map[Role]bool{RoleBNScale: true}
		}
		c = CriterionL1
	case CriterionTaylor:
		return nil, fmt.Errorf("prune: importance of %s: the taylor criterion needs gradients; use a TaylorAccumulator", gr.Name)
	default:
		return nil, fmt.Errorf("prune: importance of %s: unknown criterion %q", gr.Name, c)
	}
	perKey := map[sliceKey][]float64{}
	for ui, u := range gr.Units {
		for _, s := range u.Slices {
			if !roles[s.Role] {
				continue
			}
			k := sliceKey{s.Param, s.Axis}
			if perKey[k] == nil {
				perKey[k] = make([]float64, gr.Size())
			}
			t := g.Params[s.Param]
			perKey[k][ui] += sliceNorm(t, s.Axis, s.Index, c == CriterionL2)
		}
	}
	score := make([]float64, gr.Size())
	for _, k := range sortedSliceKeys(perKey) {
		v := perKey[k]
		if c == CriterionL2 {
			for i := range v {
				v[i] = math.Sqrt(v[i])
			}
		}
		addNormalized(score, v)
	}
	return score, nil
}

func groupHas(gr *Group, r Role) bool {
	for _, s := range gr.Units[0].Slices {
		if s.Role == r {
			return true
		}
	}
	return false
}

// addNormalized adds v/mean(v) to dst; an all-zero v adds nothing.
func addNormalized(dst, v []float64) {
	var mean float64
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if mean == 0 {
		return
	}
	for i, x := range v {
		dst[i] += x / mean
	}
}

// sliceNorm is Σ|x| (or Σx² when squared) over index i of t along axis.
func sliceNorm(t *tensor.Tensor, axis, i int, squared bool) float64 {
	var s float64
	forSlice(t, axis, i, func(j int) {
		x := float64(t.Data[j])
		if squared {
			s += x * x
		} else {
			s += math.Abs(x)
		}
	})
	return s
}

// forSlice calls f with the flat index of every element at index i along axis.
func forSlice(t *tensor.Tensor, axis, i int, f func(j int)) {
	outer := tensor.Size(t.Shape[:axis])
	inner := tensor.Size(t.Shape[axis+1:])
	n := t.Shape[axis]
	for o := 0; o < outer; o++ {
		base := (o*n + i) * inner
		for j := base; j < base+inner; j++ {
			f(j)
		}
	}
}

func sortedSliceKeys[V any](m map[sliceKey]V) []sliceKey {
	ks := make([]sliceKey, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool {
		return ks[i].param < ks[j].param || ks[i].param == ks[j].param && ks[i].axis < ks[j].axis
	})
	return ks
}

// TaylorAccumulator gathers first-order Taylor scores over batches: after each
// backward pass, Add takes the parameter gradients, and Scores returns for each group
// Σ_batches (Σ_{slices} w·∂L/∂w)² per unit, over the unit's filter, consumer input
// slices and BatchNormalization scale.
type TaylorAccumulator struct {
	d      *DepGraph
	scores map[string][]float64
	n      int
}

// NewTaylorAccumulator returns an empty accumulator for d's groups.
func NewTaylorAccumulator(d *DepGraph) *TaylorAccumulator {
	a := &TaylorAccumulator{d: d, scores: map[string][]float64{}}
	for _, gr := range d.Groups {
		a.scores[gr.Name] = make([]float64, gr.Size())
	}
	return a
}

// Add accumulates one batch. grads maps parameter names to their gradients; a missing
// gradient counts as zero.
func (a *TaylorAccumulator) Add(grads map[string]*tensor.Tensor) {
	params := a.d.g.Params
	for _, gr := range a.d.Groups {
		sc := a.scores[gr.Name]
		for ui, u := range gr.Units {
			var s float64
			for _, sl := range u.Slices {
				if sl.Role == RoleOther {
					continue
				}
				gt, w := grads[sl.Param], params[sl.Param]
				if gt == nil || gt.Len() != w.Len() {
					continue
				}
				forSlice(w, sl.Axis, sl.Index, func(j int) { s += float64(w.Data[j]) * float64(gt.Data[j]) })
			}
			sc[ui] += s * s
		}
	}
	a.n++
}

// Batches is how many batches were added.
func (a *TaylorAccumulator) Batches() int { return a.n }

// Scores returns the accumulated scores of the named group, or nil.
func (a *TaylorAccumulator) Scores(group string) []float64 { return a.scores[group] }
