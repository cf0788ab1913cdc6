package profiles

import (
	"slices"

	fleetprunev1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// HardwareProfile is what an agent detects about its device; it mirrors the wire
// message fleetprunev1.HardwareProfile with JSON names for etcd and the API.
type HardwareProfile struct {
	Arch        string            `json:"arch"`
	CPUModel    string            `json:"cpuModel,omitempty"`
	Cores       int               `json:"cores"`
	SIMDFlags   []string          `json:"simdFlags,omitempty"`
	MemoryBytes ByteSize          `json:"memoryBytes"`
	OS          string            `json:"os,omitempty"`
	Runtimes    []string          `json:"runtimes,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Threads     int               `json:"threads,omitempty"`
	// CPUQuota is the CPU quota in cores; 0 means none detected (unlimited).
	CPUQuota float64 `json:"cpuQuota,omitempty"`
	Hostname string  `json:"hostname,omitempty"`
}

// ProfileFromProto converts the wire message; nil gives the zero profile.
func ProfileFromProto(p *fleetprunev1.HardwareProfile) HardwareProfile {
	if p == nil {
		return HardwareProfile{}
	}
	var labels map[string]string
	if len(p.GetLabels()) > 0 {
		labels = make(map[string]string, len(p.GetLabels()))
		for k, v := range p.GetLabels() {
			labels[k] = v
		}
	}
	return HardwareProfile{
		Arch:        p.GetArch(),
		CPUModel:    p.GetCpuModel(),
		Cores:       int(p.GetCores()),
		SIMDFlags:   slices.Clone(p.GetSimdFlags()),
		MemoryBytes: ByteSize(p.GetMemoryBytes()),
		OS:          p.GetOs(),
		Runtimes:    slices.Clone(p.GetRuntimes()),
		Labels:      labels,
		Threads:     int(p.GetThreads()),
		CPUQuota:    p.GetCpuQuota(),
		Hostname:    p.GetHostname(),
	}
}

// Proto converts p to the wire message.
func (p HardwareProfile) Proto() *fleetprunev1.HardwareProfile {
	var labels map[string]string
	if len(p.Labels) > 0 {
		labels = make(map[string]string, len(p.Labels))
		for k, v := range p.Labels {
			labels[k] = v
		}
	}
	return &fleetprunev1.HardwareProfile{
		Arch:        p.Arch,
		CpuModel:    p.CPUModel,
		Cores:       int32(p.Cores),
		SimdFlags:   slices.Clone(p.SIMDFlags),
		MemoryBytes: uint64(p.MemoryBytes),
		Os:          p.OS,
		Runtimes:    slices.Clone(p.Runtimes),
		Labels:      labels,
		Threads:     int32(p.Threads),
		CpuQuota:    p.CPUQuota,
		Hostname:    p.Hostname,
	}
}

// Validate checks a profile that came from outside (a registration): field paths are
// under path ("profile").
func (p HardwareProfile) Validate(path string) error {
	var e errs
	p.validate(&e, path)
	return e.err()
}

func (p HardwareProfile) validate(e *errs, path string) {
	if p.Arch == "" {
		e.add(join(path, "arch"), 0, "must not be empty")
	}
	if p.Cores < 1 || p.Cores > 1<<16 {
		e.add(join(path, "cores"), 0, "must be between 1 and 65536, got %d", p.Cores)
	}
	if p.Threads < 0 || p.Threads > 1<<16 {
		e.add(join(path, "threads"), 0, "must be between 0 and 65536, got %d", p.Threads)
	}
	if p.CPUQuota < 0 || p.CPUQuota != p.CPUQuota || p.CPUQuota > 1<<16 {
		e.add(join(path, "cpuQuota"), 0, "must be between 0 (none) and 65536 cores, got %v", p.CPUQuota)
	}
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{{"arch", p.Arch, 32}, {"cpuModel", p.CPUModel, 256}, {"os", p.OS, 64}, {"hostname", p.Hostname, 256}} {
		if len(f.value) > f.max {
			e.add(join(path, f.name), 0, "is %d bytes long, at most %d allowed", len(f.value), f.max)
		}
	}
	for _, l := range []struct {
		name string
		list []string
	}{{"simdFlags", p.SIMDFlags}, {"runtimes", p.Runtimes}} {
		if len(l.list) > 256 {
			e.add(join(path, l.name), 0, "at most 256 entries, got %d", len(l.list))
			continue
		}
		for i, v := range l.list {
			if v == "" || len(v) > 64 {
				e.add(index(join(path, l.name), i), 0, "must be 1 to 64 bytes long, got %d", len(v))
			}
		}
	}
	if len(p.Labels) > 64 {
		e.add(join(path, "labels"), 0, "at most 64 labels, got %d", len(p.Labels))
	}
	for _, k := range sortedKeys(p.Labels) {
		if err := validateLabel(k, p.Labels[k]); err != nil {
			e.add(join(path, "labels."+truncate(k, 40)), 0, "%v", err)
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
