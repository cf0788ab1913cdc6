package prune

import (
	"fmt"
	"math"
	"os"

	"sigs.k8s.io/yaml"
)

// PlanFile holds per-layer keep ratios, in YAML or JSON:
//
//	keep:
//	  conv1: 0.5
//	  fc1: 0.25
//
// For structured pruning the names are group names (the first producing layer of each
// coupled group, as `fleetprune sensitivity` lists them) and a ratio is the share of
// units kept; for unstructured-layer pruning they are weight names (fc1.weight) and a
// ratio is the share of nonzero weights kept (Han et al. 2015 prune LeNet-300-100 to
// 8%, 9% and 26%). Layers not named keep everything.
type PlanFile struct {
	Keep map[string]float64 `json:"keep"`
}

// ReadPlanFile reads and checks a plan file; see ParsePlan.
func ReadPlanFile(path string) (*PlanFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("prune: plan file: %w", err)
	}
	p, err := ParsePlan(b)
	if err != nil {
		return nil, fmt.Errorf("prune: plan file %s: %w", path, err)
	}
	return p, nil
}

// ParsePlan decodes a YAML or JSON plan and checks every ratio is in (0, 1]. Layer
// names are checked against a model by CheckPlan.
func ParsePlan(b []byte) (*PlanFile, error) {
	var p PlanFile
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if len(p.Keep) == 0 {
		return nil, fmt.Errorf("no keep ratios: want a map keep: {layer: ratio}")
	}
	for name, r := range p.Keep {
		if math.IsNaN(r) || r <= 0 || r > 1 {
			return nil, fmt.Errorf("layer %q: keep ratio %v not in (0, 1]", name, r)
		}
	}
	return &p, nil
}

// CheckPlan fails, listing the valid names, when the plan names a layer that is not a
// prunable group of d.
func (p *PlanFile) CheckPlan(d *DepGraph) error {
	for _, name := range sortedKeys(p.Keep) {
		if d.Group(name) == nil {
			return fmt.Errorf("prune: plan names layer %q, which is not a prunable group of this model (groups: %v)", name, d.GroupNames())
		}
	}
	return nil
}
