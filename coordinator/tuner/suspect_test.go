package tuner

import (
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
)

func rec(id string, budget float64, p95 time.Duration) tuning.Record {
	return tuning.Record{Trial: tuning.Trial{VariantID: id, Budget: budget, P95: p95}}
}

// TestSuspect checks when a measurement is repeated: slower than a larger model by
// SuspectFactor, or slower than the latency model's prediction by OutlierFactor.
func TestSuspect(t *testing.T) {
	known := []tuning.Record{rec("base", 1, 500*time.Microsecond), rec("v1", 0.3, 200*time.Microsecond)}
	for _, tt := range []struct {
		name      string
		m         tuning.Record
		predicted time.Duration
		want      string
	}{
		{"plausible", rec("v2", 0.4, 250*time.Microsecond), 220 * time.Microsecond, ""},
		{"slower than a larger model", rec("v2", 0.2, 310*time.Microsecond), 0, "larger model"},
		{"larger models are no evidence", rec("v2", 0.35, 700*time.Microsecond), 0, ""},
		{"far above the prediction", rec("v2", 0.35, 464*time.Microsecond), 160 * time.Microsecond, "latency model predicts"},
		{"within the prediction's factor", rec("v2", 0.35, 300*time.Microsecond), 160 * time.Microsecond, ""},
	} {
		got := suspect(tt.m, known, tt.predicted)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: suspect = %q, want %q", tt.name, got, tt.want)
		}
	}
}
