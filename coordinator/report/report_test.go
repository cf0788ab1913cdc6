package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/rollout"
)

const hostile = `<script>alert("x")</script>`

func sampleReport(t *testing.T) *view.ClassReport {
	t.Helper()
	slo := profiles.SLO{P95Latency: profiles.Duration(2 * time.Millisecond), MaxAccuracyDrop: 1}
	cl := profiles.DeviceClass{Name: "edge", BaseModel: "lenet5", SLO: slo}
	rec := func(it int, id string, p95us int, acc float64) tuning.Record {
		return tuning.Record{Trial: tuning.Trial{VariantID: id, Budget: 1 - 0.1*float64(it), P95: time.Duration(p95us) * time.Microsecond, AccuracyDrop: 99 - acc},
			Iteration: it, Accuracy: acc, MACs: 400000, Params: 60000}
	}
	base := rec(0, "lenet5", 3000, 99)
	st := &tuning.State{Class: "edge", Model: "lenet5", Generation: 1, Phase: tuning.PhaseDone, Base: &base,
		Trials: []tuning.Record{rec(1, "v1", 1800, 98.5), rec(2, "v2", 2500, 98.9)}, Verdict: tuning.Met, Accepted: "v1",
		Reason: "v1 meets every limit " + hostile}
	tv := view.TuningView{Class: "edge", SLO: slo, SLOP95Ms: 2, AccuracyFloor: 98, State: st, Points: view.Pareto(slo, st)}
	curves := &sensitivity.Curves{Version: 1, Model: "lenet5", Method: "structured", Dataset: "mnist", Samples: 100, Baseline: 99,
		Ratios: []float64{0.25, 0.5, 0.75}, Layers: []sensitivity.LayerCurve{
			{Layer: "conv1" + hostile, Units: 6, Accuracy: []float64{98, 97, 90}, Drop: []float64{1, 2, 9}},
			{Layer: "fc1", Units: 120, Accuracy: []float64{99, 98.5, 98}, Drop: []float64{0, 0.5, 1}},
		}}
	if err := curves.Validate(); err != nil {
		t.Fatal(err)
	}
	r, err := rollout.New("r1", "edge", "v1", "", rollout.DefaultPlan(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, _ = rollout.Next(r, rollout.Observations{SLO: slo, Devices: []string{"d1", "d2"}}, time.Now())
	r, err = rollout.Abort(rollout.Executed(r, time.Now()), time.Now(), hostile)
	if err != nil {
		t.Fatal(err)
	}
	return &view.ClassReport{Revision: 42, GeneratedAt: time.Now(),
		Class:  view.ClassView{DeviceClass: cl, Status: view.StatusMet, Tuning: &view.TuningSummary{Verdict: "met", Reason: st.Reason, Accepted: "v1"}},
		Tuning: tv, Sensitivity: curves,
		Devices:  []view.DeviceView{{ID: "d1", Class: "edge", Presence: view.PresenceLive, InstalledVariant: "v1"}},
		Variants: []view.VariantView{{Class: "edge", ID: "v1", SHA256: strings.Repeat("ab", 32), Accepted: true}},
		Rollouts: []view.RolloutView{{Rollout: r, Final: true}},
	}
}

func TestRender(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{"Class edge", "etcd revision 42", "<svg", `class="pt accepted"`, `class="slo-p95"`,
		"v1", "v2", "p95 2.5ms &gt; slo 2ms", "fc1", "aborted", "stage", "d1"} {
		if !strings.Contains(html, want) {
			t.Errorf("report has no %q", want)
		}
	}
	if strings.Contains(html, hostile) {
		t.Errorf("report carries unescaped markup from state")
	}
	for _, outside := range []string{"src=\"http", "href=\"http", "@import", "url("} {
		if strings.Contains(html, outside) {
			t.Errorf("report refers to an outside asset: %q", outside)
		}
	}
	if err := Render(io.Discard, nil); err == nil {
		t.Errorf("Render(nil): no error")
	}
}

// TestChartsAreXML: both charts are well-formed XML with escaped labels, also when
// empty.
func TestChartsAreXML(t *testing.T) {
	rep := sampleReport(t)
	for name, svg := range map[string]string{
		"pareto":            ParetoSVG(&rep.Tuning),
		"sensitivity":       SensitivitySVG(rep.Sensitivity),
		"empty pareto":      ParetoSVG(&view.TuningView{}),
		"empty sensitivity": SensitivitySVG(nil),
	} {
		dec := xml.NewDecoder(strings.NewReader(svg))
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Errorf("%s: not well-formed: %v", name, err)
				break
			}
		}
		if strings.Contains(svg, "<script") {
			t.Errorf("%s: unescaped markup", name)
		}
	}
	if n := strings.Count(ParetoSVG(&rep.Tuning), `class="pt `); n != 4 { // base, v1, v2, accepted ring
		t.Errorf("pareto: %d point marks, want 4", n)
	}
}

func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 10, 5, []float64{0, 2, 4, 6, 8, 10}},
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{97.3, 99.1, 5, []float64{97.5, 98, 98.5, 99}},
		{5, 5, 5, []float64{5}},
	}
	for _, tt := range tests {
		got := ticks(tt.lo, tt.hi, tt.n)
		if len(got) != len(tt.want) {
			t.Errorf("ticks(%v, %v, %d): got %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
			continue
		}
		for i := range got {
			if d := got[i] - tt.want[i]; d > 1e-9 || d < -1e-9 {
				t.Errorf("ticks(%v, %v, %d): got %v, want %v", tt.lo, tt.hi, tt.n, got, tt.want)
				break
			}
		}
	}
}
