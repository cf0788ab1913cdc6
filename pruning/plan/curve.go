package plan

import (
	"fmt"
	"math"
)

// Curve is the sensitivity of one layer (a coupled group, for structured pruning):
// the accuracy drop, in percentage points, measured when only that layer is pruned by
// each ratio (the fraction of channels removed).
type Curve struct {
	Layer string
	// Channels is the layer's channel (unit) count before pruning.
	Channels int
	Ratios   []float64
	Drops    []float64
}

// Validate checks that ratios are increasing in (0, 1), drops are finite, and the two
// have the same length.
func (c Curve) Validate() error {
	if c.Layer == "" {
		return fmt.Errorf("plan: curve without a layer name")
	}
	if c.Channels < 1 {
		return fmt.Errorf("plan: curve %s: %d channels, want at least 1", c.Layer, c.Channels)
	}
	if len(c.Ratios) != len(c.Drops) {
		return fmt.Errorf("plan: curve %s: %d ratios but %d drops", c.Layer, len(c.Ratios), len(c.Drops))
	}
	for i, r := range c.Ratios {
		if math.IsNaN(r) || r <= 0 || r >= 1 || (i > 0 && r <= c.Ratios[i-1]) {
			return fmt.Errorf("plan: curve %s: ratios %v must increase within (0, 1)", c.Layer, c.Ratios)
		}
		if math.IsNaN(c.Drops[i]) || math.IsInf(c.Drops[i], 0) {
			return fmt.Errorf("plan: curve %s: drop at ratio %v is %v", c.Layer, r, c.Drops[i])
		}
	}
	return nil
}

// DropAt predicts the accuracy drop at prune ratio r by linear interpolation through
// (0, 0) and the measured points, made non-decreasing (a measured gain is noise, not
// a reason to prune), and extrapolated past the last point along the last segment.
func (c Curve) DropAt(r float64) float64 {
	if r <= 0 || len(c.Ratios) == 0 {
		return 0
	}
	x0, y0 := 0.0, 0.0
	for i, x1 := range c.Ratios {
		y1 := math.Max(y0, c.Drops[i])
		if r <= x1 || i == len(c.Ratios)-1 {
			return y0 + (y1-y0)*(r-x0)/(x1-x0)
		}
		x0, y0 = x1, y1
	}
	return y0
}

// Tolerated is the largest measured prune ratio whose drop stays within tol, or 0.
func (c Curve) Tolerated(tol float64) float64 {
	best := 0.0
	for i, r := range c.Ratios {
		if c.Drops[i] > tol {
			break
		}
		best = r
	}
	return best
}

// ByLayer validates curves and indexes them by layer; two curves for one layer are an
// error.
func ByLayer(curves []Curve) (map[string]Curve, error) {
	m := make(map[string]Curve, len(curves))
	for _, c := range curves {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if _, dup := m[c.Layer]; dup {
			return nil, fmt.Errorf("plan: two curves for layer %s", c.Layer)
		}
		m[c.Layer] = c
	}
	return m, nil
}
