package prune

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
// sensitivity curves) per microsecond saved, until the budget fits. As the last cut
// may overshoot the budget by most of a step, it then gives channels back, one
// multiple at a time while the budget still fits, where they win back the most
// predicted drop per microsecond they add. A model's efficiency on a device
// (multiply-adds per second) falls as its layers shrink, and not alike for every
// layer; a MACs cost model cannot see that, a clock can.
type LatencySearch struct {
	// Threads is the executor's thread count (0: all cores), as the device runs it.
	Threads int
	// MinTime is how long each model of a step is timed at least; 0 means 60 ms.
	MinTime time.Duration
}

// nearTie is how close (as a ratio of scores) the runner-up of a search step must be
// to the best for the two to be timed again before one is taken.
const nearTie = 1.3

// proposal is one candidate step of a latency search: group cut to n units.
type proposal struct {
	group string
	n     int
	g     *graph.Graph
	cost  float64
}

// timeProposals times the current model and the proposals idx at batch 1 in one
// interleaved call, and scores them; lat[0] is the current model's time, lat[j+1]
// that of props[idx[j]].
func timeProposals(ctx context.Context, cur *graph.Graph, props []proposal, idx []int, opts []graph.Option, minTime time.Duration,
	score func(lat []time.Duration, idx []int) []float64) ([]time.Duration, []float64, error) {
	runs := []Timed{{G: cur, Opts: opts}}
	for _, i := range idx {
		runs = append(runs, Timed{G: props[i].g, Opts: opts})
	}
	lat, err := Latencies(ctx, runs, 1, minTime)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: latency search: %w", err)
	}
	return lat, score(lat, idx), nil
}

// rank2 returns the indices of the lowest and second-lowest scores (second -1 when
// there is one score).
func rank2(s []float64) (best, second int) {
	best, second = -1, -1
	for i, v := range s {
		switch {
		case best < 0 || v < s[best]:
			best, second = i, best
		case second < 0 || v < s[second]:
			second = i
		}
	}
	return best, second
}

// searchStep is one step of a latency search, for the log and the tests.
type searchStep struct {
	Group    string
	Channels int
	// Grow marks a step that gave channels back after the budget fitted.
	Grow           bool
	Latency, Saved time.Duration
	Cost, Drop     float64
}

// searchKeep returns kept unit counts per group for budget (in the unit of cost) by
// LatencySearch. Groups without a curve stay whole; no group goes below
// plan.MinChannels (5% of its units, rounded up to multiple). The result fits the
// budget, and no group can take one more multiple without breaking it. It fails
// wrapping plan.ErrBudgetTooSmall when every group is at its minimum and the budget
// still does not fit.
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
	sized, err := d.sizedCurves(curves)
	if err != nil {
		return nil, err
	}
	byGroup, err := plan.ByLayer(sized)
	if err != nil {
		return nil, err
	}
	order := make([]string, len(sized)) // the curves' order, which steps propose in
	for i, c := range sized {
		order[i] = c.Layer
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
	// score ranks proposals, lower first: a cut by the predicted drop it adds per µs it
	// saves, a growth by the µs it adds per predicted drop it wins back. A proposal
	// timed no faster (cut) or no slower (growth) counts as 1% of the current time:
	// noise must not make a free cut look infinitely good, nor a costly one free.
	// The small constant makes cuts (growths) that change no predicted drop rank by
	// their time.
	score := func(props []proposal) func(lat []time.Duration, idx []int) []float64 {
		return func(lat []time.Duration, idx []int) []float64 {
			floor := float64(lat[0]) / 100
			out := make([]float64, len(idx))
			for j, i := range idx {
				p := props[i]
				saved := float64(lat[0] - lat[j+1])
				if p.n > counts[p.group] {
					won := math.Max(drop(p.group, counts[p.group])-drop(p.group, p.n), 0)
					out[j] = math.Max(-saved, floor) / (won + 1e-3)
					continue
				}
				added := math.Max(drop(p.group, p.n)-drop(p.group, counts[p.group]), 0)
				out[j] = (added + 1e-3) / math.Max(saved, floor)
			}
			return out
		}
	}
	opts := DeviceOptions(s.Threads)
	cur, curCost, err := shaped(counts)
	if err != nil {
		return nil, err
	}
	// propose returns the models one multiple down (or up, with grow) from the
	// current plan in each group, those costing less (down) or fitting the budget (up).
	propose := func(grow bool) ([]proposal, error) {
		var props []proposal
		for _, name := range order {
			size := byGroup[name].Channels
			n := plan.NextDown(counts[name], mult)
			if grow {
				n = min(counts[name]-counts[name]%mult+mult, size)
				if n == counts[name] {
					continue
				}
			} else if n < plan.MinChannels(size, mult, plan.DefaultMaxRatio) {
				continue
			}
			trial := maps.Clone(counts)
			trial[name] = n
			g, c, err := shaped(trial)
			if err != nil {
				return nil, err
			}
			if grow && c > budget || !grow && c >= curCost {
				continue
			}
			props = append(props, proposal{name, n, g, c})
		}
		return props, nil
	}
	// take times props beside the current model, moves the plan to the best-scoring
	// one (lowest score) and logs the step. A near tie, whose few µs are within the
	// machine's noise, is timed again, longer, and that decides.
	take := func(props []proposal) error {
		all := make([]int, len(props))
		for i := range all {
			all[i] = i
		}
		score := score(props)
		lat, scores, err := timeProposals(ctx, cur, props, all, opts, minTime, score)
		if err != nil {
			return err
		}
		best, second := rank2(scores)
		curLat, bestLat := lat[0], lat[best+1]
		if second >= 0 && scores[second] < nearTie*scores[best] {
			l2, s2, err := timeProposals(ctx, cur, props, []int{best, second}, opts, 3*minTime, score)
			if err != nil {
				return err
			}
			curLat, bestLat = l2[0], l2[1]
			if s2[1] < s2[0] {
				best, bestLat = second, l2[2]
			}
		}
		p := props[best]
		grow := p.n > counts[p.group]
		counts[p.group] = p.n
		cur, curCost = p.g, p.cost
		if log != nil {
			var total float64
			for _, name := range order {
				total += drop(name, counts[name])
			}
			log(searchStep{Group: p.group, Channels: p.n, Grow: grow, Latency: bestLat, Saved: curLat - bestLat, Cost: p.cost, Drop: total})
		}
		return nil
	}
	// step takes one step of the search, down or (grow) up, and reports false when no
	// proposal is left.
	step := func(grow bool) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		props, err := propose(grow)
		if err != nil || len(props) == 0 {
			return false, err
		}
		return true, take(props)
	}
	for curCost > budget {
		ok, err := step(false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("prune: latency search: budget %.6g not reachable, every group at its minimum costs %.6g: %w", budget, curCost, plan.ErrBudgetTooSmall)
		}
	}
	// The last cut can overshoot the budget by most of a step: channels go back, one
	// multiple at a time, while the budget still fits.
	for {
		ok, err := step(true)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
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

// searchCounts is StructuredKeep for a params or MACs target planned by cfg.Search
// (Prune has checked the target and that there are curves).
func (d *DepGraph) searchCounts(ctx context.Context, cfg Config) (map[string]int, error) {
	t := cfg.Target
	cost := macsOrParams(t.Kind)
	base, err := cost(d.g)
	if err != nil {
		return nil, err
	}
	budget := t.Budget(base)
	counts, err := d.searchKeep(ctx, cfg.Search, cfg.Curves, cfg.Multiple, budget, cost, func(st searchStep) {
		cfg.Log.Info("prune: latency search", "group", st.Group, "channels", st.Channels, "grow", st.Grow, "latency", st.Latency, "saved", st.Saved,
			string(t.Kind), int64(st.Cost), "predicted drop", st.Drop)
	})
	if errors.Is(err, plan.ErrBudgetTooSmall) {
		return nil, budgetTooSmall(t, budget, err)
	}
	return counts, err
}
