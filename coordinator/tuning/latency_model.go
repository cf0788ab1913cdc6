package tuning

import (
	"fmt"
	"sort"
	"time"
)

// LatencyModel is a class's NetAdapt-style lookup table: the mean time of each layer of
// the base model as the class's devices measured it, plus the time outside the layers.
// A variant's latency is predicted by scaling each layer's time with the share of the
// layer's MACs the variant keeps, then correcting by how far earlier predictions missed
// what the devices measured.
type LatencyModel struct {
	// Layers maps a node name to its measured mean time in the base model.
	Layers map[string]time.Duration `json:"layers"`
	// Overhead is base p95 minus the sum of layer means: input handling, scheduling and
	// the tail between mean and p95; pruning does not remove it.
	Overhead time.Duration `json:"overhead"`
	// Correction multiplies predicted layer time; fitted from measured variants.
	Correction float64 `json:"correction"`
	// Samples are the measured variants the correction was fitted on.
	Samples []LatencySample `json:"samples,omitempty"`
}

// LatencySample is one measured variant: its per-layer MAC share and measured p95.
type LatencySample struct {
	Keep map[string]float64 `json:"keep"`
	P95  time.Duration      `json:"p95"`
}

// NewLatencyModel builds the table from the base model's per-layer mean times and its
// measured p95. It returns an error when there are no layer times or p95 is not
// positive.
func NewLatencyModel(layers map[string]time.Duration, baseP95 time.Duration) (*LatencyModel, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("tuning: latency model: no per-layer times reported")
	}
	if baseP95 <= 0 {
		return nil, fmt.Errorf("tuning: latency model: base p95 %v must be > 0", baseP95)
	}
	var sum time.Duration
	m := &LatencyModel{Layers: make(map[string]time.Duration, len(layers)), Correction: 1}
	for name, d := range layers {
		if d < 0 {
			return nil, fmt.Errorf("tuning: latency model: layer %q time %v < 0", name, d)
		}
		m.Layers[name] = d
		sum += d
	}
	m.Overhead = max(baseP95-sum, 0)
	if sum > baseP95 {
		// Per-layer means were taken in timing mode, which adds its own cost: scale
		// them down so that the base model predicts its own p95.
		m.Correction = float64(baseP95) / float64(sum)
	}
	return m, nil
}

// LayerTotal is the sum of the base model's layer times.
func (m *LatencyModel) LayerTotal() time.Duration {
	var s time.Duration
	for _, d := range m.Layers {
		s += d
	}
	return s
}

// Predict returns the predicted p95 of a variant that keeps keep[layer] of each
// layer's MACs (1 for a layer absent from keep).
func (m *LatencyModel) Predict(keep map[string]float64) time.Duration {
	return m.Overhead + time.Duration(m.Correction*float64(m.layerTime(keep)))
}

func (m *LatencyModel) layerTime(keep map[string]float64) time.Duration {
	var s float64
	for name, d := range m.Layers {
		k, ok := keep[name]
		if !ok {
			k = 1
		}
		s += float64(d) * k
	}
	return time.Duration(s)
}

// Observe adds a measured variant and refits the correction: the median over samples
// of (measured − overhead) / predicted layer time, so one noisy device cannot swing it.
func (m *LatencyModel) Observe(keep map[string]float64, p95 time.Duration) {
	m.Samples = append(m.Samples, LatencySample{Keep: keep, P95: p95})
	var ratios []float64
	for _, s := range m.Samples {
		lt := m.layerTime(s.Keep)
		if lt <= 0 {
			continue
		}
		ratios = append(ratios, float64(max(s.P95-m.Overhead, 0))/float64(lt))
	}
	if len(ratios) == 0 {
		return
	}
	sort.Float64s(ratios)
	m.Correction = ratios[len(ratios)/2]
}

// BudgetFor converts a latency target into the share of the base layer time a plan
// may keep, given the fitted correction. The result is clamped to [0, 1].
func (m *LatencyModel) BudgetFor(target time.Duration) float64 {
	total := m.Correction * float64(m.LayerTotal())
	if total <= 0 {
		return 1
	}
	return clamp(float64(target-m.Overhead)/total, 0, 1)
}

// NodeTimes returns the base layer times in nanoseconds, the unit of the planner's
// latency cost terms.
func (m *LatencyModel) NodeTimes() map[string]float64 {
	out := make(map[string]float64, len(m.Layers))
	for n, d := range m.Layers {
		out[n] = float64(d)
	}
	return out
}
