package tuner

import (
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
)

// TestSameShape checks that a built variant is matched to a measured trial only when
// its shape agrees in every respect, and never to an unmeasured one.
func TestSameShape(t *testing.T) {
	measured := tuning.Record{Trial: tuning.Trial{Budget: 0.367, VariantID: "g1-v1", P95: 76 * time.Microsecond},
		Keep: map[string]float64{"conv1": 0.5, "fc1": 0.25}, Params: 190746, Nonzero: 190746, MACs: 708544}
	twin := measured
	twin.Trial = tuning.Trial{Budget: 0.525, VariantID: "g1-v3"}
	twin.Keep = map[string]float64{"conv1": 0.5, "fc1": 0.25}
	if got := sameShape([]tuning.Record{measured}, twin); got == nil || got.VariantID != "g1-v1" {
		t.Fatalf("twin of g1-v1: got %v", got)
	}
	unmeasured := measured
	unmeasured.P95 = 0
	if got := sameShape([]tuning.Record{unmeasured}, twin); got != nil {
		t.Errorf("matched a trial with no measurement: %v", got.VariantID)
	}
	for name, change := range map[string]func(r *tuning.Record){
		"params":  func(r *tuning.Record) { r.Params++ },
		"nonzero": func(r *tuning.Record) { r.Nonzero-- },
		"macs":    func(r *tuning.Record) { r.MACs += 8 },
		"keep":    func(r *tuning.Record) { r.Keep = map[string]float64{"conv1": 0.5, "fc1": 0.26} },
		"layers":  func(r *tuning.Record) { r.Keep = map[string]float64{"conv1": 0.5} },
	} {
		other := twin
		change(&other)
		if got := sameShape([]tuning.Record{measured}, other); got != nil {
			t.Errorf("%s differs, still matched %s", name, got.VariantID)
		}
	}
}
