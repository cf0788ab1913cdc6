package prune

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// TargetKind is what a pruning target constrains.
type TargetKind string

// Target kinds.
const (
	TargetSparsity TargetKind = "sparsity" // fraction of prunable weights removed
	TargetParams   TargetKind = "params"   // largest count of nonzero parameters
	TargetMACs     TargetKind = "macs"     // largest multiply-accumulate count per sample
	TargetPlan     TargetKind = "plan"     // per-layer keep ratios from a plan file
)

// Target is what a prune must reach. For params and MACs, Relative means Value is a
// fraction of the base model's count (written "0.25x").
type Target struct {
	Kind     TargetKind
	Value    float64
	Relative bool
}

// String formats the target the way ParseTarget reads it.
func (t Target) String() string {
	if t.Kind == TargetPlan {
		return "plan"
	}
	v := strconv.FormatFloat(t.Value, 'g', -1, 64)
	if t.Relative {
		v += "x"
	}
	return string(t.Kind) + "=" + v
}

// ParseTarget reads "sparsity=0.95", "params=22000", "params=0.1x", "macs=0.25x" or
// "macs=150000". It rejects a sparsity outside [0, 1), a non-positive count, and a
// relative budget outside (0, 1].
func ParseTarget(s string) (Target, error) {
	kind, val, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return Target{}, fmt.Errorf("prune: target %q: want KIND=VALUE with KIND sparsity, params or macs (plans come with --plan)", s)
	}
	t := Target{Kind: TargetKind(strings.ToLower(strings.TrimSpace(kind)))}
	val = strings.TrimSpace(val)
	if strings.HasSuffix(val, "x") {
		t.Relative = true
		val = strings.TrimSuffix(val, "x")
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return Target{}, fmt.Errorf("prune: target %q: %q is not a number", s, val)
	}
	t.Value = v
	return t, t.Validate()
}

// Validate checks the target's value against its kind.
func (t Target) Validate() error {
	switch t.Kind {
	case TargetSparsity:
		if t.Relative {
			return fmt.Errorf("prune: target %s: a sparsity is already a fraction; drop the x", t)
		}
		if t.Value < 0 || t.Value >= 1 {
			return fmt.Errorf("prune: target %s: sparsity must be in [0, 1) (0.95 removes 95%% of the weights)", t)
		}
	case TargetParams, TargetMACs:
		if t.Value <= 0 {
			return fmt.Errorf("prune: target %s: the budget must be positive", t)
		}
		if t.Relative && t.Value > 1 {
			return fmt.Errorf("prune: target %s: a relative budget must be in (0, 1]", t)
		}
		if !t.Relative && t.Value != math.Trunc(t.Value) {
			return fmt.Errorf("prune: target %s: an absolute count must be a whole number (or write a fraction with x, like 0.25x)", t)
		}
	case TargetPlan:
	default:
		return fmt.Errorf("prune: target kind %q unknown: want sparsity, params or macs", t.Kind)
	}
	return nil
}

// Budget turns a params or MACs target into an absolute count given the base model's.
func (t Target) Budget(base float64) float64 {
	if t.Relative {
		return t.Value * base
	}
	return t.Value
}
