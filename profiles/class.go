package profiles

import (
	"math"
	"slices"
)

// Limits on a class.
const (
	// MaxPriority bounds a class's priority in both directions.
	MaxPriority = 1_000_000
	// MaxChannelMultiple is the largest channel-rounding multiple.
	MaxChannelMultiple = 64
)

// DeviceClass is a group of devices that share one pruned variant and one SLO.
type DeviceClass struct {
	// Name is the class's name: [a-z0-9-], at most MaxNameLen characters.
	Name string `json:"name"`
	// Selector picks the devices of the class.
	Selector Selector `json:"selector"`
	// Priority orders classes for placement: a device joins the matching class with
	// the highest priority, ties broken by name.
	Priority int `json:"priority,omitempty"`
	// ChannelMultiple rounds pruned channel counts to a multiple of it (1, 2, 4, 8,
	// 16, 32 or 64) so SIMD kernels stay efficient; 0 means 1.
	ChannelMultiple int `json:"channelMultiple,omitempty"`
	// SLO is what a variant must meet on the class's devices.
	SLO SLO `json:"slo"`
	// BaseModel names the model the class's variants are pruned from.
	BaseModel string `json:"baseModel"`
}

// SLO is a class's service level objective.
type SLO struct {
	// P95Latency is the largest acceptable 95th-percentile batch-1 latency.
	P95Latency Duration `json:"p95Latency"`
	// MaxAccuracyDrop is the largest acceptable top-1 accuracy loss against the base
	// model, in percentage points (0 to 100).
	MaxAccuracyDrop float64 `json:"maxAccuracyDrop"`
	// MaxModelBytes is the largest acceptable ONNX artifact; 0 means no limit.
	MaxModelBytes ByteSize `json:"maxModelBytes,omitempty"`
	// MaxPeakMemory is the largest acceptable peak resident memory while benchmarking;
	// 0 means no limit.
	MaxPeakMemory ByteSize `json:"maxPeakMemory,omitempty"`
}

// Multiple returns the effective channel-rounding multiple (at least 1).
func (c DeviceClass) Multiple() int {
	if c.ChannelMultiple <= 0 {
		return 1
	}
	return c.ChannelMultiple
}

// Validate checks the class on its own; the ErrorList's paths start at path (pass ""
// for a lone class).
func (c DeviceClass) Validate(path string) error {
	var e errs
	c.validate(&e, path, nil)
	return e.err()
}

func (c DeviceClass) validate(e *errs, path string, lines *lineMap) {
	if err := ValidateName(c.Name); err != nil {
		e.add(join(path, "name"), lines.at(join(path, "name")), "%v", err)
	}
	if c.Priority < -MaxPriority || c.Priority > MaxPriority {
		e.add(join(path, "priority"), lines.at(join(path, "priority")), "must be between %d and %d, got %d", -MaxPriority, MaxPriority, c.Priority)
	}
	if m := c.ChannelMultiple; m != 0 && (m < 0 || m > MaxChannelMultiple || m&(m-1) != 0) {
		e.add(join(path, "channelMultiple"), lines.at(join(path, "channelMultiple")), "must be a power of two from 1 to %d (4, 8 and 16 suit SIMD kernels), got %d", MaxChannelMultiple, m)
	}
	if err := ValidateName(c.BaseModel); err != nil {
		e.add(join(path, "baseModel"), lines.at(join(path, "baseModel")), "must name a model: %v", err)
	}
	c.SLO.validate(e, join(path, "slo"), lines)
}

func (s SLO) validate(e *errs, path string, lines *lineMap) {
	if s.P95Latency <= 0 {
		e.add(join(path, "p95Latency"), lines.at(join(path, "p95Latency")), "must be > 0, got %s", s.P95Latency)
	}
	if d := s.MaxAccuracyDrop; math.IsNaN(d) || d < 0 || d > 100 {
		e.add(join(path, "maxAccuracyDrop"), lines.at(join(path, "maxAccuracyDrop")), "must be between 0 and 100 percentage points, got %v", d)
	}
}

// Place returns the class a device with profile p belongs to: among the classes whose
// selector matches, the one with the highest priority, ties broken by the smaller
// name. ok is false when no class matches.
func Place(classes []DeviceClass, p HardwareProfile) (class DeviceClass, ok bool) {
	best := -1
	for i := range classes {
		c := &classes[i]
		if best >= 0 && !placedBefore(c, &classes[best]) {
			continue
		}
		if c.Selector.Matches(p) {
			best = i
		}
	}
	if best < 0 {
		return DeviceClass{}, false
	}
	return classes[best], true
}

// placedBefore reports whether a comes before b in placement order.
func placedBefore(a, b *DeviceClass) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	return a.Name < b.Name
}

// SortForPlacement returns a copy of classes in placement order: priority
// descending, then name ascending.
func SortForPlacement(classes []DeviceClass) []DeviceClass {
	out := slices.Clone(classes)
	slices.SortStableFunc(out, func(a, b DeviceClass) int {
		switch {
		case placedBefore(&a, &b):
			return -1
		case placedBefore(&b, &a):
			return 1
		}
		return 0
	})
	return out
}
