package plan

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrBudgetTooSmall is wrapped by Solve when even the smallest valid model, every
// layer at its minimum channel count, costs more than the budget.
var ErrBudgetTooSmall = errors.New("budget below the smallest valid model")

// Problem is a planning request.
type Problem struct {
	// Curves gives each prunable layer's sensitivity; layers without one stay whole.
	Curves []Curve
	// Costs models the cost of the whole model as a function of keep ratios.
	Costs []Term
	// Budget is the largest acceptable cost, in the unit of Costs.
	Budget float64
	// Multiple rounds every kept channel count to a multiple (SIMD width: 4, 8, 16); 0
	// or 1 means any count. A layer smaller than Multiple is kept whole.
	Multiple int
	// MaxRatio caps the prune ratio of any layer; 0 means 0.95.
	MaxRatio float64
}

// DefaultMaxRatio is the largest prune ratio Solve gives a layer unless told otherwise.
const DefaultMaxRatio = 0.95

// Plan is Solve's answer.
type Plan struct {
	// Keep is the kept fraction of each layer, Channels/original channels.
	Keep     map[string]float64
	Channels map[string]int
	// Cost is the model's predicted cost and PredictedDrop the sum of the layers'
	// predicted accuracy drops in percentage points.
	Cost, PredictedDrop float64
}

// Solve chooses channel counts, greedily: starting from the whole model, it repeatedly
// removes one Multiple of channels from the layer with the least predicted accuracy
// drop per unit of cost saved, until the cost fits the budget. It returns an error
// wrapping ErrBudgetTooSmall, with the smallest reachable cost, when the budget cannot
// be met.
func Solve(p Problem) (*Plan, error) {
	if math.IsNaN(p.Budget) || p.Budget <= 0 {
		return nil, fmt.Errorf("plan: budget %v must be positive", p.Budget)
	}
	if err := validateTerms(p.Costs); err != nil {
		return nil, err
	}
	maxRatio := p.MaxRatio
	if maxRatio == 0 {
		maxRatio = DefaultMaxRatio
	}
	if maxRatio < 0 || maxRatio >= 1 {
		return nil, fmt.Errorf("plan: largest prune ratio %v not in (0, 1)", maxRatio)
	}
	mult := max(p.Multiple, 1)
	curves, err := ByLayer(p.Curves)
	if err != nil {
		return nil, err
	}
	ch := map[string]int{}
	minCh := map[string]int{}
	keep := map[string]float64{}
	for _, c := range curves {
		ch[c.Layer] = c.Channels
		minCh[c.Layer] = MinChannels(c.Channels, mult, maxRatio)
		keep[c.Layer] = 1
	}
	smallest := map[string]float64{}
	for l, c := range curves {
		smallest[l] = float64(minCh[l]) / float64(c.Channels)
	}
	if floor := Cost(p.Costs, smallest); floor > p.Budget*(1+1e-12) {
		return nil, fmt.Errorf("plan: budget %.6g, smallest valid model costs %.6g (every layer at its minimum channels, multiple %d): %w", p.Budget, floor, mult, ErrBudgetTooSmall)
	}
	// Only the terms that read a layer change when it shrinks.
	touches := map[string][]int{}
	for i, t := range p.Costs {
		seen := map[string]bool{}
		for _, s := range append(append([]Share(nil), t.In...), t.Out...) {
			if _, ok := curves[s.Layer]; ok && !seen[s.Layer] {
				seen[s.Layer] = true
				touches[s.Layer] = append(touches[s.Layer], i)
			}
		}
	}
	partial := func(l string) float64 {
		var c float64
		for _, i := range touches[l] {
			t := p.Costs[i]
			c += t.Base * fraction(t.In, keep) * fraction(t.Out, keep)
		}
		return c
	}
	cost := Cost(p.Costs, keep)
	for cost > p.Budget*(1+1e-12) {
		best, bestScore, bestCost := "", math.Inf(1), 0.0
		for _, l := range sortedLayers(curves) {
			next := NextDown(ch[l], mult)
			if next < minCh[l] {
				continue
			}
			c := curves[l]
			old := keep[l]
			before := partial(l)
			keep[l] = float64(next) / float64(c.Channels)
			nc := cost - before + partial(l)
			keep[l] = old
			saved := cost - nc
			if saved <= 0 {
				continue
			}
			loss := c.DropAt(1-float64(next)/float64(c.Channels)) - c.DropAt(1-float64(ch[l])/float64(c.Channels))
			if score := math.Max(loss, 0) / saved; score < bestScore {
				best, bestScore, bestCost = l, score, nc
			}
		}
		if best == "" {
			return nil, fmt.Errorf("plan: budget %.6g not reachable, cost stays at %.6g: %w", p.Budget, cost, ErrBudgetTooSmall)
		}
		ch[best] = NextDown(ch[best], mult)
		keep[best] = float64(ch[best]) / float64(curves[best].Channels)
		cost = bestCost
	}
	cost = Cost(p.Costs, keep) // no drift from the running sums
	out := &Plan{Keep: keep, Channels: ch, Cost: cost}
	for l, c := range curves {
		out.PredictedDrop += c.DropAt(1 - keep[l])
	}
	return out, nil
}

// MinChannels is the fewest channels a layer may keep: at least 1-maxRatio of them,
// rounded up to the multiple, and never more than the layer has.
func MinChannels(n, mult int, maxRatio float64) int {
	m := int(math.Ceil(float64(n) * (1 - maxRatio)))
	m = max(roundUp(m, mult), mult)
	return min(m, n)
}

// NextDown is the next smaller channel count on the grid of multiples.
func NextDown(c, mult int) int {
	if c%mult != 0 {
		return c - c%mult
	}
	return c - mult
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

func sortedLayers(m map[string]Curve) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// MinCost is the cost of the smallest model Solve may return for p: every layer with a
// curve at its fewest channels (1−MaxRatio of them, rounded up to Multiple). Budgets
// below it make Solve fail with ErrBudgetTooSmall.
func MinCost(p Problem) float64 {
	maxRatio := p.MaxRatio
	if maxRatio <= 0 || maxRatio >= 1 {
		maxRatio = DefaultMaxRatio
	}
	keep := map[string]float64{}
	for _, c := range p.Curves {
		if c.Channels > 0 {
			keep[c.Layer] = float64(MinChannels(c.Channels, max(p.Multiple, 1), maxRatio)) / float64(c.Channels)
		}
	}
	return Cost(p.Costs, keep)
}
