package tuning

import (
	"testing"
	"time"
)

func TestLatencyModelPredictAndFit(t *testing.T) {
	layers := map[string]time.Duration{"conv1": 2 * time.Millisecond, "conv2": 6 * time.Millisecond, "fc": 1 * time.Millisecond}
	m, err := NewLatencyModel(layers, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Predict(nil), 10*time.Millisecond; got != want {
		t.Errorf("base prediction %v, want %v", got, want)
	}
	half := map[string]float64{"conv1": 0.5, "conv2": 0.5, "fc": 0.5}
	if got, want := m.Predict(half), 5500*time.Microsecond; got != want {
		t.Errorf("half-MACs prediction %v, want %v", got, want)
	}
	// The device turns out slower on the pruned layers than predicted: the correction
	// must move the next prediction toward what was measured.
	m.Observe(half, 7*time.Millisecond)
	if got := m.Predict(half); got != 7*time.Millisecond {
		t.Errorf("after one observation prediction %v, want the measured 7ms", got)
	}
	if b := m.BudgetFor(4 * time.Millisecond); b <= 0 || b >= 0.5 {
		t.Errorf("budget for 4ms %.3f, want in (0, 0.5)", b)
	}
}

func TestLatencyModelRejectsBadInput(t *testing.T) {
	if _, err := NewLatencyModel(nil, time.Millisecond); err == nil {
		t.Error("no layers: want error")
	}
	if _, err := NewLatencyModel(map[string]time.Duration{"a": 1}, 0); err == nil {
		t.Error("zero p95: want error")
	}
	if _, err := NewLatencyModel(map[string]time.Duration{"a": -1}, time.Millisecond); err == nil {
		t.Error("negative layer time: want error")
	}
	// Timing mode overhead: layer sum above p95 still predicts the base p95.
	m, err := NewLatencyModel(map[string]time.Duration{"a": 3 * time.Millisecond}, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Predict(nil); got != 2*time.Millisecond {
		t.Errorf("prediction %v, want 2ms", got)
	}
}
