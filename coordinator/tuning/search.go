// Package tuning holds the pure decisions of the per-class tuning loop: which latency
// budget to prune for next, when a variant is good enough, and when a class's SLO
// cannot be met and why. It does no I/O; the coordinator's reconciler feeds it what
// the probe cohort measured.
package tuning

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Limits are the parts of a class SLO that a variant is judged against.
// A zero MaxModelBytes or MaxPeakMemory means no limit.
type Limits struct {
	P95 time.Duration
	// Headroom is the share of P95 a variant must leave free to be accepted: tuning
	// aims at (1 − Headroom)·P95, so that the fleet's measurements, taken under other
	// loads than the probe cohort's, do not fail the rollout's gates on a variant that
	// only just fit. The gates judge P95 itself.
	Headroom        float64
	MaxAccuracyDrop float64 // percentage points
	MaxModelBytes   int64
	MaxPeakMemory   int64
}

// target is the p95 a variant must meet: P95 less the headroom.
func (l Limits) target() time.Duration {
	if l.Headroom <= 0 {
		return l.P95
	}
	return time.Duration(float64(l.P95) * (1 - l.Headroom))
}

// sloText names the p95 limit in messages: the SLO, and the target when a headroom
// lowers it.
func (l Limits) sloText() string {
	if l.Headroom <= 0 {
		return fmt.Sprintf("slo %v", round(l.P95))
	}
	return fmt.Sprintf("target %v (slo %v less %.0f%% headroom)", round(l.target()), round(l.P95), 100*l.Headroom)
}

// Trial is one variant that was built and measured. Budget is the share of the base
// model's predicted latency that its pruning plan targeted: 1 is the base model.
type Trial struct {
	Budget       float64       `json:"budget"`
	VariantID    string        `json:"variantId"`
	P95          time.Duration `json:"p95"`          // measured on the probe cohort
	AccuracyDrop float64       `json:"accuracyDrop"` // percentage points against the base model
	ModelBytes   int64         `json:"modelBytes"`
	PeakMemory   int64         `json:"peakMemory"`
}

// Verdict is where tuning of a class ended.
type Verdict string

// Verdicts.
const (
	// Continue means: build and measure a variant at Decision.NextBudget.
	Continue Verdict = ""
	// Met means Decision.Accepted meets every limit with the least accuracy loss found.
	Met Verdict = "met"
	// Infeasible means no variant can meet the SLO; Decision.Reason names the binding limit.
	Infeasible Verdict = "infeasible"
)

// SearchConfig bounds the search. Zero fields take the defaults below.
type SearchConfig struct {
	// MinBudget is the smallest budget a valid model can reach (every prunable layer at
	// its minimum channels); the planner knows it.
	MinBudget float64
	// MaxIterations caps the variants built per tuning run.
	MaxIterations int
	// Room is the share of the latency SLO under which a passing variant is considered
	// to have room to win back accuracy with less pruning.
	Room float64
	// Safety scales proportional budget guesses so that the first try lands inside.
	Safety float64
	// MinStep is the smallest budget change worth a new variant.
	MinStep float64
	// BudgetFor, when set, converts a latency target into a budget through the
	// class's latency model; without it, budgets scale with the measured miss.
	BudgetFor func(target time.Duration) float64
}

// Defaults of SearchConfig.
const (
	DefaultMaxIterations = 8
	DefaultRoom          = 0.15
	DefaultSafety        = 0.9
	DefaultMinStep       = 0.03
	DefaultMinBudget     = 0.02
)

func (c SearchConfig) withDefaults() SearchConfig {
	if c.MaxIterations <= 0 {
		c.MaxIterations = DefaultMaxIterations
	}
	if c.Room <= 0 {
		c.Room = DefaultRoom
	}
	if c.Safety <= 0 {
		c.Safety = DefaultSafety
	}
	if c.MinStep <= 0 {
		c.MinStep = DefaultMinStep
	}
	if c.MinBudget <= 0 {
		c.MinBudget = DefaultMinBudget
	}
	return c
}

// Decision is the next step of a tuning run.
type Decision struct {
	Verdict    Verdict
	NextBudget float64 // when Verdict is Continue
	Accepted   *Trial  // when Verdict is Met
	Reason     string  // why: the step taken, or the binding limit
}

// Violation says which limit a trial breaks, or "" when it meets them all.
func (l Limits) Violation(t Trial) string {
	switch {
	case l.P95 > 0 && t.P95 > l.target():
		return fmt.Sprintf("p95 %v > %s", round(t.P95), l.sloText())
	case l.MaxModelBytes > 0 && t.ModelBytes > l.MaxModelBytes:
		return fmt.Sprintf("model %d bytes > slo %d", t.ModelBytes, l.MaxModelBytes)
	case l.MaxPeakMemory > 0 && t.PeakMemory > l.MaxPeakMemory:
		return fmt.Sprintf("peak memory %d bytes > slo %d", t.PeakMemory, l.MaxPeakMemory)
	case t.AccuracyDrop > l.MaxAccuracyDrop:
		return fmt.Sprintf("accuracy drop %.2fpp > slo %.2fpp", t.AccuracyDrop, l.MaxAccuracyDrop)
	}
	return ""
}

// fitsCost reports whether a trial meets the cost limits (latency, size, memory),
// ignoring accuracy.
func (l Limits) fitsCost(t Trial) bool {
	return (l.P95 <= 0 || t.P95 <= l.target()) &&
		(l.MaxModelBytes <= 0 || t.ModelBytes <= l.MaxModelBytes) &&
		(l.MaxPeakMemory <= 0 || t.PeakMemory <= l.MaxPeakMemory)
}

// Decide takes one step of the search for the largest budget (least pruning) whose
// variant meets every limit. base is the unpruned model measured on the probe cohort
// (Budget 1, AccuracyDrop 0); trials are the variants measured so far, in any order.
// Calling Decide again with the same inputs gives the same decision.
//
// Accuracy falls and cost falls as the budget shrinks, so the search keeps an
// interval: budgets at or above the smallest too-costly trial miss a cost limit;
// budgets at or below the largest too-inaccurate trial miss the accuracy limit.
func Decide(lim Limits, base Trial, trials []Trial, cfg SearchConfig) Decision {
	cfg = cfg.withDefaults()
	base.Budget = 1
	if lim.Violation(base) == "" {
		b := base
		return Decision{Verdict: Met, Accepted: &b, Reason: "the base model meets the SLO: no pruning needed"}
	}
	costly := []Trial{base} // misses a cost limit
	var good, inaccurate []Trial
	for _, t := range trials {
		switch {
		case !lim.fitsCost(t):
			costly = append(costly, t)
		case t.AccuracyDrop > lim.MaxAccuracyDrop:
			inaccurate = append(inaccurate, t)
		default:
			good = append(good, t)
		}
	}
	sort.Slice(costly, func(i, j int) bool { return costly[i].Budget < costly[j].Budget })
	sort.Slice(good, func(i, j int) bool { return good[i].Budget > good[j].Budget })
	sort.Slice(inaccurate, func(i, j int) bool { return inaccurate[i].Budget > inaccurate[j].Budget })
	hi := costly[0] // smallest budget known to miss a cost limit

	if len(good) > 0 {
		best := good[0]
		if len(trials) >= cfg.MaxIterations {
			return Decision{Verdict: Met, Accepted: &best, Reason: fmt.Sprintf("iteration limit %d reached: best variant kept", cfg.MaxIterations)}
		}
		roomy := lim.P95 > 0 && float64(best.P95) < (1-cfg.Room)*float64(lim.target())
		if !roomy || hi.Budget-best.Budget < 2*cfg.MinStep {
			return Decision{Verdict: Met, Accepted: &best, Reason: fmt.Sprintf("p95 %v within %s; less pruning (budget %.3f) misses: %s",
				round(best.P95), lim.sloText(), hi.Budget, lim.Violation(hi))}
		}
		next := best.Budget * float64(lim.target()) / float64(best.P95) * cfg.Safety
		next = clamp(next, best.Budget+cfg.MinStep, hi.Budget-cfg.MinStep)
		if next > (best.Budget+hi.Budget)/2 {
			next = (best.Budget + hi.Budget) / 2
		}
		return Decision{Verdict: Continue, NextBudget: next, Reason: fmt.Sprintf("p95 %v leaves room under %s: prune less to win back accuracy", round(best.P95), lim.sloText())}
	}

	if len(trials) >= cfg.MaxIterations {
		return Decision{Verdict: Infeasible, Reason: bindingReason(lim, hi, inaccurate, cfg) + fmt.Sprintf(" (after %d variants)", len(trials))}
	}
	if len(inaccurate) > 0 {
		lo := inaccurate[0] // largest budget known to lose too much accuracy
		// Declaring infeasible is final, so search the gap more finely than when a
		// passing variant is already in hand.
		if hi.Budget-lo.Budget < cfg.MinStep {
			return Decision{Verdict: Infeasible, Reason: bindingReason(lim, hi, inaccurate, cfg)}
		}
		return Decision{Verdict: Continue, NextBudget: (lo.Budget + hi.Budget) / 2,
			Reason: fmt.Sprintf("budget %.3f loses %.2fpp > %.2fpp: prune less", lo.Budget, lo.AccuracyDrop, lim.MaxAccuracyDrop)}
	}
	// Only costly trials: scale the smallest one's budget by how far it missed.
	if hi.Budget <= cfg.MinBudget+1e-9 {
		return Decision{Verdict: Infeasible, Reason: bindingReason(lim, hi, nil, cfg)}
	}
	next := hi.Budget * costRatio(lim, hi) * cfg.Safety
	if cfg.BudgetFor != nil && lim.P95 > 0 && hi.P95 > lim.target() && costRatio(lim, hi) == float64(lim.target())/float64(hi.P95) {
		// Latency binds: ask the latency model, which knows which layers cost what.
		if b := cfg.BudgetFor(time.Duration(float64(lim.target()) * cfg.Safety)); b > 0 {
			next = b
		}
	}
	if next > hi.Budget-cfg.MinStep {
		next = hi.Budget - cfg.MinStep
	}
	next = math.Max(next, cfg.MinBudget)
	return Decision{Verdict: Continue, NextBudget: next, Reason: fmt.Sprintf("budget %.3f: %s: prune more", hi.Budget, lim.Violation(hi))}
}

// costRatio is the factor by which the trial's most violated cost limit must shrink.
func costRatio(lim Limits, t Trial) float64 {
	r := 1.0
	if lim.P95 > 0 && t.P95 > lim.target() {
		r = math.Min(r, float64(lim.target())/float64(t.P95))
	}
	if lim.MaxModelBytes > 0 && t.ModelBytes > lim.MaxModelBytes {
		r = math.Min(r, float64(lim.MaxModelBytes)/float64(t.ModelBytes))
	}
	if lim.MaxPeakMemory > 0 && t.PeakMemory > lim.MaxPeakMemory {
		r = math.Min(r, float64(lim.MaxPeakMemory)/float64(t.PeakMemory))
	}
	return r
}

// bindingReason names the limit that makes the SLO infeasible.
func bindingReason(lim Limits, costly Trial, inaccurate []Trial, cfg SearchConfig) string {
	if len(inaccurate) > 0 {
		lo := inaccurate[0]
		// The smallest costly budget may lose too much accuracy as well (noise in its
		// latency, or the same pruned model as a cheaper budget's).
		keeps := "keeps accuracy"
		if costly.AccuracyDrop > lim.MaxAccuracyDrop {
			keeps = fmt.Sprintf("loses %.2fpp too", costly.AccuracyDrop)
		}
		return fmt.Sprintf("accuracy floor hit before the cost target: budget %.3f meets cost but loses %.2fpp > %.2fpp, budget %.3f %s and %s",
			lo.Budget, lo.AccuracyDrop, lim.MaxAccuracyDrop, costly.Budget, keeps, lim.Violation(costly))
	}
	if costly.Budget <= cfg.MinBudget+1e-9 {
		return fmt.Sprintf("the smallest valid model (budget %.3f) still misses: %s", costly.Budget, lim.Violation(costly))
	}
	return fmt.Sprintf("no variant met the cost limits; smallest tried (budget %.3f): %s", costly.Budget, lim.Violation(costly))
}

func clamp(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
