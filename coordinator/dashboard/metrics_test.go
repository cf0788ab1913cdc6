package dashboard_test

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
)

// gauges gathers reg into "name{label=value,...}" -> value, labels sorted.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%s", l.GetName(), l.GetValue()))
			}
			sort.Strings(ls)
			out[mf.GetName()+"{"+strings.Join(ls, ",")+"}"] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	fx := newFixture(t)
	reg := prometheus.NewPedanticRegistry()
	if err := dashboard.RegisterMetrics(reg, fx.cli); err != nil {
		t.Fatal(err)
	}
	check := func(want map[string]float64) {
		t.Helper()
		got := gauges(t, reg)
		for k, w := range want {
			if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-9 {
				t.Errorf("%s: got %v (present %v), want %v", k, g, ok, w)
			}
		}
	}
	check(map[string]float64{
		"fleetprune_state_scrape_ok{}":                                        1,
		"fleetprune_class_tuning_iterations{class=edge}":                      3,
		"fleetprune_class_tuning_iterations{class=tiny}":                      0,
		"fleetprune_class_tuning_generation{class=tiny}":                      2,
		"fleetprune_class_tuning_phase{class=tiny,phase=measuring}":           1,
		"fleetprune_class_tuning_phase{class=tiny,phase=done}":                0,
		"fleetprune_class_verdict{class=edge,verdict=met}":                    1,
		"fleetprune_class_verdict{class=edge,verdict=none}":                   0,
		"fleetprune_class_verdict{class=tiny,verdict=none}":                   1,
		"fleetprune_class_slo_p95_seconds{class=edge}":                        0.002,
		"fleetprune_class_accepted_p95_seconds{class=edge,variant=edge-v1}":   0.0017,
		"fleetprune_class_accepted_accuracy_drop{class=edge,variant=edge-v1}": 98.9 - 98.3,
		"fleetprune_rollout_stage{class=edge,rollout=r1}":                     0,
		"fleetprune_rollout_stage_percent{class=edge,rollout=r1}":             25,
		"fleetprune_rollouts{class=edge,state=baking}":                        1,
		"fleetprune_rollouts{class=tiny,state=aborted}":                       1,
		"fleetprune_rollouts{class=edge,state=paused}":                        0,
		"fleetprune_rollout_gates{class=edge,result=promoted}":                0,
	})
	if _, ok := gauges(t, reg)["fleetprune_rollout_stage{class=tiny,rollout=r0}"]; ok {
		t.Errorf("a finished rollout has a stage series")
	}

	// A promoted gate and a paused state show at the next scrape.
	ctx := context.Background()
	for _, a := range []dashboard.Action{dashboard.ActionPromote, dashboard.ActionPause} {
		if err := fx.actions.RolloutAction(ctx, "edge", "r1", a, ""); err != nil {
			t.Fatal(err)
		}
	}
	check(map[string]float64{
		"fleetprune_rollouts{class=edge,state=baking}":         0,
		"fleetprune_rollouts{class=edge,state=paused}":         1,
		"fleetprune_rollout_gates{class=edge,result=promoted}": 1,
		"fleetprune_rollout_gates{class=edge,result=passed}":   0,
	})

	// A second registration of the same collector is refused, not a panic.
	if err := dashboard.RegisterMetrics(reg, fx.cli); err == nil {
		t.Errorf("registering twice: no error")
	}
}
