package prune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/plan"
)

// LatencySearch makes a structured params or MACs plan by measurement on this machine
// instead of by a cost model (NetAdapt, Yang et al. 2018). From the whole model, each
// step proposes taking one multiple of channels from each group, times every proposal
// beside the current model at batch 1 (untrained: the weights do not change the
// time), and takes the proposal with the least predicted accuracy drop (the
// sensitivity curves) per microsecond saved, until the budget fits. A model's
// efficiency on a device (multiply-adds per second) falls as its layers shrink, and
// not alike for every layer; a MACs cost model cannot see that, a clock can.
type LatencySearch struct {
	// Threads is the executor's thread count (0: all cores), as the device runs it.
	Threads int
	// MinTime is how long each model of a step is timed at least; 0 means 60 ms.
	MinTime time.Duration
}

// searchStep is one step of a latency search, for the log and the tests.
type searchStep struct {
	Group            string
	Channels         int
	Latency, Saved   time.Duration
	Cost, Drop, Loss float64
}

// searchKeep returns kept unit counts per group for budget (in the unit of cost) by
// LatencySearch. Groups without a curve stay whole; no group goes below 5% of its
// units, rounded up to multiple. It fails wrapping plan.ErrBudgetTooSmall when every
// group is at its minimum and the budget still does not fit.
func (d *DepGraph) searchKeep(ctx context.Context, s *LatencySearch, curves []plan.Curve, multiple int, budget float64, cost func(*graph.Graph) (float64, error), log func(searchStep)) (map[string]int, error) {
	mult := max(multiple, 1)
	minTime := s.MinTime
	if minTime <= 0 {
		minTime = 60 * time.Millisecond
	}
	counts := map[string]int{}
	for _, gr := range d.Groups {
		counts[gr.Name] = gr.Size()
	}
	byGroup := map[string]plan.Curve{}
	var order []string
	for _, c := range curves {
		gr := d.Group(c.Layer)
		if gr == nil {
			return nil, fmt.Errorf("prune: sensitivity curve for %q, which is not a prunable group of this model (groups: %v)", c.Layer, d.GroupNames())
		}
		c.Channels = gr.Size()
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if _, dup := byGroup[c.Layer]; dup {
			return nil, fmt.Errorf("prune: two sensitivity curves for %q", c.Layer)
		}
		byGroup[c.Layer] = c
		order = append(order, c.Layer)
	}
	if len(order) == 0 {
		return nil, errors.New("prune: a latency search needs sensitivity curves")
	}
	minUnits := func(n int) int {
		m := int(math.Ceil(float64(n) * (1 - plan.DefaultMaxRatio)))
		return min(max((m+mult-1)/mult*mult, mult), n)
	}
	next := func(c int) int {
		if c%mult != 0 {
			return c - c%mult
		}
		return c - mult
	}
	shaped := func(c map[string]int) (*graph.Graph, float64, error) {
		g, err := d.Remove(removeLowest(d, c))
		if err != nil {
			return nil, 0, err
		}
		v, err := cost(g)
		return g, v, err
	}
	drop := func(name string, n int) float64 {
		c := byGroup[name]
		return c.DropAt(1 - float64(n)/float64(c.Channels))
	}
	opts := []graph.Option{graph.WithThreads(s.Threads), graph.WithConstantWeights(true)}
	cur, curCost, err := shaped(counts)
	if err != nil {
		return nil, err
	}
	for curCost > budget {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		type proposal struct {
			group string
			n     int
			g     *graph.Graph
			cost  float64
		}
		var props []proposal
		for _, name := range order {
			n := next(counts[name])
			if n < minUnits(byGroup[name].Channels) {
				continue
			}
			trial := map[string]int{}
			for k, v := range counts {
				trial[k] = v
			}
			trial[name] = n
			g, c, err := shaped(trial)
			if err != nil {
				return nil, err
			}
			if c >= curCost {
				continue
			}
			props = append(props, proposal{name, n, g, c})
		}
		if len(props) == 0 {
			return nil, fmt.Errorf("prune: latency search: budget %.6g not reachable, every group at its minimum costs %.6g: %w", budget, curCost, plan.ErrBudgetTooSmall)
		}
		runs := []Timed{{G: cur, Opts: opts}}
		for _, p := range props {
			runs = append(runs, Timed{G: p.g, Opts: opts})
		}
		lat, err := Latencies(ctx, runs, 1, minTime)
		if err != nil {
			return nil, fmt.Errorf("prune: latency search: %w", err)
		}
		// Least predicted drop per µs saved; a proposal timed no faster counts as
		// saving 1% of the current time (noise must not make a free cut look
		// infinitely good, nor a costly one free). The small constant makes free
		// cuts rank by the time they save.
		best, bestScore := -1, math.Inf(1)
		floor := float64(lat[0]) / 100
		for i, p := range props {
			loss := math.Max(drop(p.group, p.n)-drop(p.group, counts[p.group]), 0)
			saved := math.Max(float64(lat[0]-lat[i+1]), floor)
			if score := (loss + 1e-3) / saved; score < bestScore {
				best, bestScore = i, score
			}
		}
		p := props[best]
		loss := math.Max(drop(p.group, p.n)-drop(p.group, counts[p.group]), 0)
		counts[p.group] = p.n
		cur, curCost = p.g, p.cost
		if log != nil {
			var total float64
			for _, name := range order {
				total += drop(name, counts[name])
			}
			log(searchStep{Group: p.group, Channels: p.n, Latency: lat[best+1], Saved: lat[0] - lat[best+1], Cost: p.cost, Drop: total, Loss: loss})
		}
	}
	return counts, nil
}

// macsOrParams returns the cost function of a params or MACs target: pruning/metrics'
// totals, the numbers users see.
func macsOrParams(kind TargetKind) func(*graph.Graph) (float64, error) {
	return func(g *graph.Graph) (float64, error) {
		r, err := metrics.Measure(g)
		if err != nil {
			return 0, fmt.Errorf("prune: %w", err)
		}
		if kind == TargetMACs {
			return float64(r.Total.MACs), nil
		}
		return float64(r.Total.Params), nil
	}
}

// searchCounts is StructuredKeep for a params or MACs target planned by cfg.Search.
func (d *DepGraph) searchCounts(ctx context.Context, cfg Config) (map[string]int, error) {
	t := cfg.Target
	if t.Kind != TargetMACs && t.Kind != TargetParams {
		return nil, fmt.Errorf("prune: a latency search plans a params or MACs target, not %s", t)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	cost := macsOrParams(t.Kind)
	base, err := cost(d.g)
	if err != nil {
		return nil, err
	}
	budget := t.Budget(base)
	counts, err := d.searchKeep(ctx, cfg.Search, cfg.Curves, cfg.Multiple, budget, cost, func(st searchStep) {
		cfg.Log.Info("prune: latency search", "group", st.Group, "channels", st.Channels, "latency", st.Latency, "saved", st.Saved,
			string(t.Kind), int64(st.Cost), "predicted drop", st.Drop)
	})
	if errors.Is(err, plan.ErrBudgetTooSmall) {
		return nil, fmt.Errorf("prune: %s target %.0f (%s) is below the smallest valid model: %w", t.Kind, budget, t, err)
	}
	return counts, err
}
