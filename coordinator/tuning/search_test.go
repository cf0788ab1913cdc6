package tuning

import (
	"strings"
	"testing"
	"time"
)

// world is a synthetic class: latency falls linearly with the budget above a fixed
// overhead, accuracy drop grows as the budget shrinks.
type world struct {
	base     time.Duration
	overhead float64 // share of base latency that pruning cannot remove
	accScale float64 // drop in pp at budget 0
	bytes    int64
}

func (w world) measure(b float64) Trial {
	lat := time.Duration(float64(w.base) * (w.overhead + (1-w.overhead)*b))
	return Trial{Budget: b, P95: lat, AccuracyDrop: w.accScale * (1 - b) * (1 - b) * (1 - b), ModelBytes: int64(float64(w.bytes) * b)}
}

func run(t *testing.T, lim Limits, w world, cfg SearchConfig) (Decision, []Trial) {
	t.Helper()
	base := w.measure(1)
	var trials []Trial
	for i := 0; i < 20; i++ {
		d := Decide(lim, base, trials, cfg)
		if d.Verdict != Continue {
			return d, trials
		}
		for _, tr := range trials {
			if tr.Budget == d.NextBudget {
				t.Fatalf("iteration %d: budget %.4f tried twice", i, d.NextBudget)
			}
		}
		if d.NextBudget <= 0 || d.NextBudget > 1 {
			t.Fatalf("iteration %d: next budget %v out of (0, 1]", i, d.NextBudget)
		}
		trials = append(trials, w.measure(d.NextBudget))
	}
	t.Fatalf("no verdict after 20 steps; trials %+v", trials)
	return Decision{}, nil
}

func TestDecideConverges(t *testing.T) {
	w := world{base: 10 * time.Millisecond, overhead: 0.1, accScale: 5, bytes: 1 << 20}
	tests := []struct {
		name       string
		lim        Limits
		want       Verdict
		wantReason string
	}{
		{"base meets", Limits{P95: 20 * time.Millisecond, MaxAccuracyDrop: 1}, Met, "no pruning needed"},
		{"half latency", Limits{P95: 5 * time.Millisecond, MaxAccuracyDrop: 1}, Met, ""},
		{"tight latency", Limits{P95: 2 * time.Millisecond, MaxAccuracyDrop: 4}, Met, ""},
		{"size bound", Limits{P95: 20 * time.Millisecond, MaxAccuracyDrop: 2, MaxModelBytes: 400 << 10}, Met, ""},
		{"accuracy floor", Limits{P95: 2 * time.Millisecond, MaxAccuracyDrop: 0.5}, Infeasible, "accuracy floor"},
		{"below overhead", Limits{P95: 500 * time.Microsecond, MaxAccuracyDrop: 50}, Infeasible, "smallest valid model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, trials := run(t, tt.lim, w, SearchConfig{MinBudget: 0.05})
			if d.Verdict != tt.want {
				t.Fatalf("verdict %q (%s), want %q; trials %+v", d.Verdict, d.Reason, tt.want, trials)
			}
			if !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("reason %q, want it to mention %q", d.Reason, tt.wantReason)
			}
			if len(trials) > DefaultMaxIterations {
				t.Errorf("%d variants built, want at most %d", len(trials), DefaultMaxIterations)
			}
			if d.Verdict != Met {
				return
			}
			if v := tt.lim.Violation(*d.Accepted); v != "" {
				t.Errorf("accepted variant violates the SLO: %s", v)
			}
			// No tried variant that met the SLO pruned less than the accepted one.
			for _, tr := range trials {
				if tt.lim.Violation(tr) == "" && tr.Budget > d.Accepted.Budget {
					t.Errorf("accepted budget %.3f, but %.3f also met the SLO", d.Accepted.Budget, tr.Budget)
				}
			}
		})
	}
}

func TestDecideWinsBackAccuracy(t *testing.T) {
	// A first variant far under the latency SLO must lead to less pruning.
	lim := Limits{P95: 8 * time.Millisecond, MaxAccuracyDrop: 1}
	base := Trial{P95: 10 * time.Millisecond}
	trials := []Trial{{Budget: 0.2, P95: 3 * time.Millisecond, AccuracyDrop: 0.4}}
	d := Decide(lim, base, trials, SearchConfig{})
	if d.Verdict != Continue {
		t.Fatalf("verdict %q (%s), want Continue", d.Verdict, d.Reason)
	}
	if d.NextBudget <= 0.2 || d.NextBudget >= 1 {
		t.Errorf("next budget %.3f, want in (0.2, 1)", d.NextBudget)
	}
}

func TestDecideIsIdempotent(t *testing.T) {
	lim := Limits{P95: 5 * time.Millisecond, MaxAccuracyDrop: 1}
	base := Trial{P95: 10 * time.Millisecond}
	trials := []Trial{{Budget: 0.4, P95: 6 * time.Millisecond, AccuracyDrop: 0.1}}
	a := Decide(lim, base, trials, SearchConfig{})
	b := Decide(lim, base, trials, SearchConfig{})
	if a.Verdict != b.Verdict || a.NextBudget != b.NextBudget || a.Reason != b.Reason {
		t.Errorf("same inputs, different decisions: %+v vs %+v", a, b)
	}
	if a.Verdict != Continue || a.NextBudget >= 0.4 {
		t.Errorf("p95 over the SLO: got %+v, want a smaller budget than 0.4", a)
	}
}

func TestDecideIterationLimit(t *testing.T) {
	lim := Limits{P95: 5 * time.Millisecond, MaxAccuracyDrop: 1}
	base := Trial{P95: 10 * time.Millisecond}
	var trials []Trial
	for i := 0; i < 3; i++ {
		trials = append(trials, Trial{Budget: 0.9 - 0.01*float64(i), P95: 9 * time.Millisecond})
	}
	d := Decide(lim, base, trials, SearchConfig{MaxIterations: 3})
	if d.Verdict != Infeasible || !strings.Contains(d.Reason, "after 3 variants") {
		t.Errorf("got %+v, want infeasible after 3 variants", d)
	}
}

// TestDecideHeadroom checks that with a headroom a variant must meet the lowered
// target to be accepted, and that the messages name both the target and the SLO.
func TestDecideHeadroom(t *testing.T) {
	lim := Limits{P95: 100 * time.Microsecond, Headroom: 0.1, MaxAccuracyDrop: 5}
	base := Trial{Budget: 1, VariantID: "base", P95: 400 * time.Microsecond}
	within := Trial{Budget: 0.3, VariantID: "v1", P95: 95 * time.Microsecond, AccuracyDrop: 1}
	d := Decide(lim, base, []Trial{within}, SearchConfig{})
	if d.Verdict == Met {
		t.Fatalf("95µs accepted against a 90µs target: %+v", d)
	}
	if v := lim.Violation(within); !strings.Contains(v, "target 90µs (slo 100µs less 10% headroom)") {
		t.Errorf("violation %q, want the target and the slo named", v)
	}
	under := Trial{Budget: 0.25, VariantID: "v2", P95: 88 * time.Microsecond, AccuracyDrop: 1.5}
	d = Decide(lim, base, []Trial{within, under}, SearchConfig{})
	if d.Verdict != Met || d.Accepted.VariantID != "v2" {
		t.Fatalf("decision %+v, want v2 accepted", d)
	}
	if lim.Headroom = 0; lim.Violation(within) != "" {
		t.Errorf("without headroom 95µs breaks a 100µs slo: %q", lim.Violation(within))
	}
}

// TestDecideInfeasibleReasonNamesBothMisses checks the infeasible reason when the
// smallest too-costly budget also lost too much accuracy (the demo's edge-big class
// once read "budget 0.525 keeps accuracy" of a variant that lost 0.72pp).
func TestDecideInfeasibleReasonNamesBothMisses(t *testing.T) {
	lim := Limits{P95: 100 * time.Microsecond, MaxAccuracyDrop: 0.5}
	base := Trial{P95: 240 * time.Microsecond}
	trials := []Trial{
		{Budget: 0.505, P95: 87 * time.Microsecond, AccuracyDrop: 0.72},
		{Budget: 0.525, P95: 120 * time.Microsecond, AccuracyDrop: 0.72},
	}
	d := Decide(lim, base, trials, SearchConfig{MinStep: 0.05})
	if d.Verdict != Infeasible {
		t.Fatalf("got %+v, want infeasible", d)
	}
	if strings.Contains(d.Reason, "keeps accuracy") || !strings.Contains(d.Reason, "budget 0.525 loses 0.72pp too") {
		t.Errorf("reason %q: want budget 0.525's accuracy loss named", d.Reason)
	}
	trials[1].AccuracyDrop = 0.3
	if d := Decide(lim, base, trials, SearchConfig{MinStep: 0.05}); !strings.Contains(d.Reason, "budget 0.525 keeps accuracy and") {
		t.Errorf("reason %q: want budget 0.525 said to keep accuracy", d.Reason)
	}
}
