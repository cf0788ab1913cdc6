package prune

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/pruning/plan"
)

// TestLatencySearch plans LeNet-300-100 to half its MACs by timing candidates: the
// result fits the budget, keeps counts on the multiple, keeps more of the sensitive
// group, and every step of the log moved one group down by one multiple.
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

	d := mustBuild(t, g)
	var steps []searchStep
	counts, err := d.searchKeep(context.Background(), s, curves, 20, 0.5*float64(macsOf(t, g)), macsOrParams(TargetMACs), func(st searchStep) { steps = append(steps, st) })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"fc1": 300, "fc2": 100}
	for i, st := range steps {
		if st.Channels != want[st.Group]-20 {
			t.Fatalf("step %d took %s from %d to %d, want one multiple of 20", i, st.Group, want[st.Group], st.Channels)
		}
		want[st.Group] = st.Channels
		if st.Latency <= 0 {
			t.Errorf("step %d: latency %v", i, st.Latency)
		}
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
