package sensitivity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/fleetprune/fleetprune/pruning/plan"
)

// FormatVersion is the version of the curves file this package writes and reads.
const FormatVersion = 1

// maxFileBytes bounds what ReadFile accepts; real curve files are a few kilobytes.
const maxFileBytes = 16 << 20

// Curves is the sensitivity of one model: per prunable layer, the accuracy measured
// after pruning only that layer by each ratio.
type Curves struct {
	Version int    `json:"version"`
	Model   string `json:"model"`
	// Method is "structured" (layers are coupled channel groups, ratios remove units)
	// or "unstructured" (layers are weights, ratios remove weights by magnitude).
	Method    string `json:"method"`
	Criterion string `json:"criterion,omitempty"`
	Dataset   string `json:"dataset"`
	Samples   int    `json:"samples"`
	// Baseline is the unpruned model's accuracy on the same samples, in percent.
	Baseline float64      `json:"baseline_accuracy"`
	Ratios   []float64    `json:"ratios"`
	Layers   []LayerCurve `json:"layers"`
}

// LayerCurve is one layer's measurements; Accuracy and Drop (percentage points, base
// minus pruned) have one entry per ratio of the Curves.
type LayerCurve struct {
	Layer    string    `json:"layer"`
	Units    int       `json:"units"` // channels or neurons (structured), weights (unstructured)
	Params   int64     `json:"params"`
	MACs     int64     `json:"macs"`
	Accuracy []float64 `json:"accuracy"`
	Drop     []float64 `json:"drop"`
}

// Validate checks that the curves are complete and consistent.
func (c *Curves) Validate() error {
	if c.Version != FormatVersion {
		return fmt.Errorf("sensitivity: version %d, this build reads version %d", c.Version, FormatVersion)
	}
	if c.Method != "structured" && c.Method != "unstructured" {
		return fmt.Errorf("sensitivity: method %q: want structured or unstructured", c.Method)
	}
	if !finite(c.Baseline) || c.Baseline < 0 || c.Baseline > 100 {
		return fmt.Errorf("sensitivity: baseline accuracy %v not in [0, 100]", c.Baseline)
	}
	if len(c.Ratios) == 0 {
		return errors.New("sensitivity: no ratios")
	}
	for i, r := range c.Ratios {
		if !finite(r) || r <= 0 || r >= 1 || (i > 0 && r <= c.Ratios[i-1]) {
			return fmt.Errorf("sensitivity: ratios %v must increase within (0, 1)", c.Ratios)
		}
	}
	seen := map[string]bool{}
	for _, l := range c.Layers {
		if l.Layer == "" {
			return errors.New("sensitivity: a layer without a name")
		}
		if seen[l.Layer] {
			return fmt.Errorf("sensitivity: layer %q listed twice", l.Layer)
		}
		seen[l.Layer] = true
		if l.Units < 1 || l.Params < 0 || l.MACs < 0 {
			return fmt.Errorf("sensitivity: layer %s: units %d, params %d, MACs %d: want units ≥ 1, counts ≥ 0", l.Layer, l.Units, l.Params, l.MACs)
		}
		if len(l.Accuracy) != len(c.Ratios) || len(l.Drop) != len(c.Ratios) {
			return fmt.Errorf("sensitivity: layer %s: %d accuracies and %d drops for %d ratios", l.Layer, len(l.Accuracy), len(l.Drop), len(c.Ratios))
		}
		for i := range l.Drop {
			if !finite(l.Accuracy[i]) || !finite(l.Drop[i]) || l.Accuracy[i] < 0 || l.Accuracy[i] > 100 {
				return fmt.Errorf("sensitivity: layer %s at ratio %v: accuracy %v, drop %v", l.Layer, c.Ratios[i], l.Accuracy[i], l.Drop[i])
			}
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Decode reads curves from JSON and validates them. Unknown fields are errors, so a
// typo in a hand-edited file does not pass silently.
func Decode(r io.Reader) (*Curves, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxFileBytes))
	dec.DisallowUnknownFields()
	var c Curves
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("sensitivity: decode: %w", err)
	}
	if dec.More() {
		return nil, errors.New("sensitivity: decode: trailing data after the curves")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Encode writes the curves as indented JSON.
func (c *Curves) Encode(w io.Writer) error {
	if err := c.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

// ReadFile reads curves from a JSON file.
func ReadFile(path string) (*Curves, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sensitivity: %w", err)
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// WriteFile writes curves to a JSON file atomically (temporary file, then rename).
func (c *Curves) WriteFile(path string) error {
	var b bytes.Buffer
	if err := c.Encode(&b); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".sens-*.json")
	if err != nil {
		return fmt.Errorf("sensitivity: write %s: %w", path, err)
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("sensitivity: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sensitivity: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("sensitivity: write %s: %w", path, err)
	}
	return nil
}

// PlanCurves converts the curves into the planner's input; Channels is each layer's
// unit count.
func (c *Curves) PlanCurves() []plan.Curve {
	out := make([]plan.Curve, 0, len(c.Layers))
	for _, l := range c.Layers {
		out = append(out, plan.Curve{Layer: l.Layer, Channels: l.Units,
			Ratios: append([]float64(nil), c.Ratios...), Drops: append([]float64(nil), l.Drop...)})
	}
	return out
}

// Layer returns the named layer's curve, or nil.
func (c *Curves) Layer(name string) *LayerCurve {
	for i := range c.Layers {
		if c.Layers[i].Layer == name {
			return &c.Layers[i]
		}
	}
	return nil
}
