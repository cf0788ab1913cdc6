package prune

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/pruning/plan"
)

// TestLatencySearch plans LeNet-300-100 to half its MACs by timing candidates: the
// result fits the budget, keeps counts on the multiple, keeps more of the sensitive
// group, and no group can take one more multiple within the budget; every step of the
// log moved one group by one multiple, down until the budget fitted, then up.
func TestLatencySearch(t *testing.T) {
	g := build(t, "lenet-300-100")
	curves := []plan.Curve{
		{Layer: "fc1", Ratios: []float64{0.5, 0.9}, Drops: []float64{0.1, 0.3}},
		{Layer: "fc2", Ratios: []float64{0.5, 0.9}, Drops: []float64{5, 20}},
	}
	s := &LatencySearch{Threads: 1, MinTime: 5 * time.Millisecond}
	res, err := Prune(context.Background(), g, Config{Method: Structured, Target: Target{Kind: TargetMACs, Value: 0.5, Relative: true},
		Curves: curves, Multiple: 20, Search: s})
	if err != nil {
		t.Fatal(err)
	}
	if m, m0 := macsOf(t, res.Graph), macsOf(t, g); float64(m) > 0.5*float64(m0) {
		t.Errorf("MACs %d above half of %d", m, m0)
	}
	for name, n := range res.Kept {
		if n%20 != 0 {
			t.Errorf("group %s keeps %d, not a multiple of 20", name, n)
		}
	}
	if k1, k2 := float64(res.Kept["fc1"])/300, float64(res.Kept["fc2"])/100; k2 <= k1 {
		t.Errorf("searched keep fc1 %.2f fc2 %.2f; want the sensitive fc2 to keep more", k1, k2)
	}

	// The same through searchKeep, with its log; then with the sensitivities the other
	// way round, where fc2 goes to its minimum first, fc1's last cut overshoots the
	// budget, and fc2 gets a multiple back.
	d := mustBuild(t, g)
	budget := 0.5 * float64(macsOf(t, g))
	flipped := []plan.Curve{
		{Layer: "fc1", Ratios: []float64{0.5, 0.9}, Drops: []float64{5, 20}},
		{Layer: "fc2", Ratios: []float64{0.5, 0.9}, Drops: []float64{0, 0.01}},
	}
	for k, cs := range [][]plan.Curve{curves, flipped} {
		var steps []searchStep
		counts, err := d.searchKeep(context.Background(), s, cs, 20, budget, macsOrParams(TargetMACs), func(st searchStep) { steps = append(steps, st) })
		if err != nil {
			t.Fatal(err)
		}
		checkSearchSteps(t, steps, counts, budget)
		for name, size := range map[string]int{"fc1": 300, "fc2": 100} {
			if counts[name] == size {
				continue
			}
			trial := maps.Clone(counts)
			trial[name] += 20
			bigger, err := d.Remove(removeLowest(d, trial))
			if err != nil {
				t.Fatal(err)
			}
			if m := float64(macsOf(t, bigger)); m <= budget {
				t.Errorf("curves %d: group %s could grow to %d within the budget (%.0f ≤ %.0f MACs), the search stopped at %d", k, name, trial[name], m, budget, counts[name])
			}
		}
		if k == 1 && (counts["fc1"] != 160 || counts["fc2"] != 40 || !steps[len(steps)-1].Grow) {
			t.Errorf("flipped curves: search ended at fc1 %d, fc2 %d (last step %+v); want fc1 160 and fc2 cut to 20, then grown to 40", counts["fc1"], counts["fc2"], steps[len(steps)-1])
		}
	}
}

// checkSearchSteps checks a latency search's log: each step moved one group by one
// multiple of 20, down until the budget fitted, then only up within the budget, and
// the steps end at counts.
func checkSearchSteps(t *testing.T, steps []searchStep, counts map[string]int, budget float64) {
	t.Helper()
	want := map[string]int{"fc1": 300, "fc2": 100}
	grown := false
	for i, st := range steps {
		step := -20
		if st.Grow {
			step = 20
		}
		if st.Channels != want[st.Group]+step {
			t.Fatalf("step %d took %s from %d to %d, want one multiple of 20", i, st.Group, want[st.Group], st.Channels)
		}
		if grown && !st.Grow {
			t.Fatalf("step %d cut %s after a step gave channels back", i, st.Group)
		}
		if st.Grow && st.Cost > budget {
			t.Fatalf("step %d grew %s to %d, which costs %.0f MACs, over the budget %.0f", i, st.Group, st.Channels, st.Cost, budget)
		}
		if st.Latency <= 0 {
			t.Errorf("step %d: latency %v", i, st.Latency)
		}
		grown = grown || st.Grow
		want[st.Group] = st.Channels
	}
	for name, n := range want {
		if counts[name] != n {
			t.Errorf("group %s: search returned %d, its steps end at %d", name, counts[name], n)
		}
	}
}

// TestLatencySearchErrors checks that a latency search is refused without curves,
// for unstructured pruning or a plan target, and that a budget below the smallest
// valid model says so.
func TestLatencySearchErrors(t *testing.T) {
	g := build(t, "lenet-300-100")
	curves := []plan.Curve{{Layer: "fc1", Ratios: []float64{0.5}, Drops: []float64{1}}}
	s := &LatencySearch{MinTime: time.Millisecond}
	macs := Target{Kind: TargetMACs, Value: 0.5, Relative: true}
	for _, cfg := range []Config{
		{Method: Structured, Target: macs, Search: s},
		{Method: UnstructuredGlobal, Target: Target{Kind: TargetSparsity, Value: 0.5}, Curves: curves, Search: s},
		{Method: Structured, Target: Target{Kind: TargetSparsity, Value: 0.5}, Curves: curves, Search: s},
	} {
		if _, err := Prune(context.Background(), g, cfg); err == nil || !strings.Contains(err.Error(), "latency search") {
			t.Errorf("%s %s with %d curves: error %v, want one about the latency search", cfg.Method, cfg.Target, len(cfg.Curves), err)
		}
	}
	_, err := Prune(context.Background(), g, Config{Method: Structured, Target: Target{Kind: TargetMACs, Value: 0.001, Relative: true}, Curves: curves, Multiple: 50, Search: s})
	if !errors.Is(err, plan.ErrBudgetTooSmall) || !strings.Contains(err.Error(), "smallest valid model") {
		t.Errorf("budget below the smallest model: %v", err)
	}
	bad := []plan.Curve{{Layer: "nope", Ratios: []float64{0.5}, Drops: []float64{1}}}
	if _, err := Prune(context.Background(), g, Config{Method: Structured, Target: macs, Curves: bad, Search: s}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("curve for an unknown group: %v", err)
	}
}

// TestRank2 checks the best and runner-up a search step compares.
func TestRank2(t *testing.T) {
	for _, tt := range []struct {
		s            []float64
		best, second int
	}{
		{nil, -1, -1},
		{[]float64{3}, 0, -1},
		{[]float64{3, 1, 2}, 1, 2},
		{[]float64{1, 3, 2}, 0, 2},
		{[]float64{2, 2, 1}, 2, 0},
	} {
		if b, s := rank2(tt.s); b != tt.best || s != tt.second {
			t.Errorf("rank2(%v) = %d, %d; want %d, %d", tt.s, b, s, tt.best, tt.second)
		}
	}
}
