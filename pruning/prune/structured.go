package prune

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/plan"
)

// KeepCount is how many of n units a group keeps at keep ratio k, rounded to the
// nearest multiple (SIMD width) and never below one multiple nor above n. A group
// smaller than the multiple stays whole.
func KeepCount(n int, k float64, multiple int) int {
	c := int(math.Round(k * float64(n)))
	if multiple > 1 {
		if n <= multiple {
			return n
		}
		c = int(math.Round(float64(c)/float64(multiple))) * multiple
		c = max(c, multiple)
	}
	return min(max(c, 1), n)
}

// SelectRemoval picks, for each group named in counts, the units to remove so that the
// given count remains: those with the lowest scores. scores holds one slice per group,
// as Importance or a TaylorAccumulator returns them.
func (d *DepGraph) SelectRemoval(counts map[string]int, scores map[string][]float64) (map[string][]int, error) {
	out := map[string][]int{}
	for _, name := range sortedKeys(counts) {
		gr := d.Group(name)
		if gr == nil {
			return nil, fmt.Errorf("prune: unknown group %q (groups: %v)", name, d.GroupNames())
		}
		keep := counts[name]
		if keep < 1 || keep > gr.Size() {
			return nil, fmt.Errorf("prune: group %s: keep %d of %d units", name, keep, gr.Size())
		}
		sc := scores[name]
		if len(sc) != gr.Size() {
			return nil, fmt.Errorf("prune: group %s: %d scores for %d units", name, len(sc), gr.Size())
		}
		idx := make([]int, gr.Size())
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return sc[idx[a]] < sc[idx[b]] })
		rm := append([]int(nil), idx[:gr.Size()-keep]...)
		sort.Ints(rm)
		if len(rm) > 0 {
			out[name] = rm
		}
	}
	return out, nil
}

// Scores computes the criterion's scores for every group. For CriterionTaylor pass the
// accumulator that gathered gradients on this same dependency graph.
func (d *DepGraph) Scores(c Criterion, taylor *TaylorAccumulator) (map[string][]float64, error) {
	out := map[string][]float64{}
	for _, gr := range d.Groups {
		if c == CriterionTaylor {
			if taylor == nil || taylor.Batches() == 0 {
				return nil, errors.New("prune: taylor criterion without gradients")
			}
			out[gr.Name] = taylor.Scores(gr.Name)
			continue
		}
		s, err := Importance(d.g, gr, c)
		if err != nil {
			return nil, err
		}
		out[gr.Name] = s
	}
	return out, nil
}

// StructuredKeep turns a target into kept unit counts per group. Sparsity s keeps 1-s
// of every group; a params or MACs budget is met with sensitivity curves through
// plan.Solve when curves are given, else with one keep ratio for all groups; a plan
// file gives the ratios directly. Counts are rounded to multiple. It fails when the
// budget is below the smallest valid model (every group at its minimum).
func (d *DepGraph) StructuredKeep(t Target, pf *PlanFile, curves []plan.Curve, multiple int) (map[string]int, error) {
	counts := map[string]int{}
	uniform := func(k float64) map[string]int {
		c := map[string]int{}
		for _, gr := range d.Groups {
			c[gr.Name] = KeepCount(gr.Size(), k, multiple)
		}
		return c
	}
	switch t.Kind {
	case TargetPlan:
		if pf == nil {
			return nil, errors.New("prune: target plan without a plan file")
		}
		if err := pf.CheckPlan(d); err != nil {
			return nil, err
		}
		for _, gr := range d.Groups {
			k, ok := pf.Keep[gr.Name]
			if !ok {
				k = 1
			}
			counts[gr.Name] = KeepCount(gr.Size(), k, multiple)
		}
		return counts, nil
	case TargetSparsity:
		if err := t.Validate(); err != nil {
			return nil, err
		}
		return uniform(1 - t.Value), nil
	case TargetParams, TargetMACs:
	default:
		return nil, fmt.Errorf("prune: structured: unsupported target %s", t)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	terms := d.ParamsTerms()
	if t.Kind == TargetMACs {
		var err error
		if terms, err = d.MACsTerms(); err != nil {
			return nil, err
		}
	}
	// Budgets are checked against pruning/metrics' totals, the numbers users see.
	measure := macsOrParams(t.Kind)
	base, err := measure(d.g)
	if err != nil {
		return nil, err
	}
	budget := t.Budget(base)
	// The cost terms model the weights; biases, BN parameters and rounding make the
	// real count differ a little, so shrink the modelled budget until the real one fits.
	modelBudget := budget
	for range 8 {
		c, err := d.solveCounts(terms, modelBudget, curves, multiple)
		if err != nil {
			if errors.Is(err, plan.ErrBudgetTooSmall) {
				return nil, budgetTooSmall(t, budget, err)
			}
			return nil, err
		}
		pruned, err := d.Remove(removeLowest(d, c))
		if err != nil {
			return nil, err
		}
		got, err := measure(pruned)
		if err != nil {
			return nil, err
		}
		if got <= budget {
			return c, nil
		}
		modelBudget *= budget / got * 0.999
	}
	return nil, fmt.Errorf("prune: %s target %s: could not fit the budget %.0f after rounding to multiples of %d; it is likely below the smallest valid model", t.Kind, t, budget, multiple)
}

// removeLowest removes units from the end of each group; only the resulting shapes
// matter to the caller.
func removeLowest(d *DepGraph, counts map[string]int) map[string][]int {
	out := map[string][]int{}
	for name, c := range counts {
		for i := c; i < d.Group(name).Size(); i++ {
			out[name] = append(out[name], i)
		}
	}
	return out
}

// sizedCurves returns curves with each one's Channels set to its group's size; a
// curve for a layer that is not a prunable group of the model is an error.
func (d *DepGraph) sizedCurves(curves []plan.Curve) ([]plan.Curve, error) {
	var cs []plan.Curve
	for _, c := range curves {
		gr := d.Group(c.Layer)
		if gr == nil {
			return nil, fmt.Errorf("prune: sensitivity curve for %q, which is not a prunable group of this model (groups: %v)", c.Layer, d.GroupNames())
		}
		c.Channels = gr.Size()
		cs = append(cs, c)
	}
	return cs, nil
}

// budgetTooSmall wraps a planner's plan.ErrBudgetTooSmall for target t (budget in its
// unit) in the message users see.
func budgetTooSmall(t Target, budget float64, err error) error {
	return fmt.Errorf("prune: %s target %.0f (%s) is below the smallest valid model: %w", t.Kind, budget, t, err)
}

func (d *DepGraph) solveCounts(terms []plan.Term, budget float64, curves []plan.Curve, multiple int) (map[string]int, error) {
	if len(curves) > 0 {
		cs, err := d.sizedCurves(curves)
		if err != nil {
			return nil, err
		}
		p, err := plan.Solve(plan.Problem{Curves: cs, Costs: terms, Budget: budget, Multiple: multiple})
		if err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, gr := range d.Groups {
			if c, ok := p.Channels[gr.Name]; ok {
				out[gr.Name] = c
			} else {
				out[gr.Name] = gr.Size()
			}
		}
		return out, nil
	}
	cost := func(k float64) float64 {
		keep := map[string]float64{}
		for _, gr := range d.Groups {
			keep[gr.Name] = float64(KeepCount(gr.Size(), k, multiple)) / float64(gr.Size())
		}
		return plan.Cost(terms, keep)
	}
	if cost(0) > budget {
		return nil, fmt.Errorf("modelled cost %.6g at the minimum channels exceeds %.6g: %w", cost(0), budget, plan.ErrBudgetTooSmall)
	}
	lo, hi := 0.0, 1.0
	if cost(1) <= budget {
		lo = 1
	}
	for range 50 {
		mid := (lo + hi) / 2
		if cost(mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	out := map[string]int{}
	for _, gr := range d.Groups {
		out[gr.Name] = KeepCount(gr.Size(), lo, multiple)
	}
	return out, nil
}

// PruneStructured removes the lowest-scoring units of each group down to counts and
// returns the smaller dense graph.
func (d *DepGraph) PruneStructured(counts map[string]int, scores map[string][]float64) (*graph.Graph, error) {
	rm, err := d.SelectRemoval(counts, scores)
	if err != nil {
		return nil, err
	}
	return d.Remove(rm)
}
