package agent

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// RuntimeGo is the inference runtime every agent has: the pure-Go engine of pruning/.
const RuntimeGo = "fleetprune-go"

// simdFlags are the cpuinfo flags a class selector may ask for.
var simdFlags = []string{"sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "neon", "asimd", "sve"}

// hostFS names the files hardware detection reads, relative to root, so that tests
// can point it at a copy of /proc and /sys.
type hostFS struct{ root string }

func (h hostFS) read(path string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(h.root, path))
	if err != nil {
		return "", false
	}
	return string(b), true
}

// DetectHardware returns the profile of the machine the agent runs on: GOARCH, CPU
// model and SIMD flags from /proc/cpuinfo, usable logical CPUs, memory (the lower of
// /proc/meminfo and the cgroup memory limit), the cgroup CPU quota, the OS, the
// hostname and the runtimes available. Missing or unreadable files leave their
// fields empty; it never fails. Labels, threads and a configured CPU quota are filled
// in by the agent from its options.
func DetectHardware() *fpv1.HardwareProfile {
	return hostFS{root: "/"}.detect()
}

func (h hostFS) detect() *fpv1.HardwareProfile {
	p := &fpv1.HardwareProfile{
		Arch:     runtime.GOARCH,
		Os:       runtime.GOOS,
		Cores:    int32(runtime.NumCPU()),
		Runtimes: []string{RuntimeGo},
	}
	if name, err := os.Hostname(); err == nil {
		p.Hostname = name
	}
	if s, ok := h.read("proc/cpuinfo"); ok {
		p.CpuModel, p.SimdFlags = parseCPUInfo(s)
	}
	if s, ok := h.read("proc/meminfo"); ok {
		p.MemoryBytes = parseMemTotal(s)
	}
	cg := h.cgroups()
	if lim := cg.memoryLimit(h); lim > 0 && (p.MemoryBytes == 0 || lim < p.MemoryBytes) {
		p.MemoryBytes = lim
	}
	p.CpuQuota = cg.cpuQuota(h)
	return p
}

// parseCPUInfo returns the CPU model and the SIMD flags of interest, sorted.
func parseCPUInfo(s string) (model string, flags []string) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		switch key {
		case "model name", "Model", "Hardware", "cpu model":
			if model == "" {
				model = val
			}
		case "flags", "Features":
			for _, f := range strings.Fields(val) {
				if slices.Contains(simdFlags, f) {
					seen[f] = true
				}
			}
		}
	}
	for f := range seen {
		flags = append(flags, f)
	}
	// On arm64 Advanced SIMD is always there and reported as asimd; selectors speak
	// of neon.
	if seen["asimd"] && !seen["neon"] {
		flags = append(flags, "neon")
	}
	slices.Sort(flags)
	return model, flags
}

// parseMemTotal returns MemTotal of /proc/meminfo in bytes, or 0.
func parseMemTotal(s string) uint64 {
	for line := range strings.Lines(s) {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}

// cgroupPaths is where this process sits in each cgroup hierarchy, from
// /proc/self/cgroup: v1 controllers by name, and the v2 path.
type cgroupPaths struct {
	v1 map[string]string
	v2 string
	// hasV2 is set when a "0::" line exists.
	hasV2 bool
}

func (h hostFS) cgroups() cgroupPaths {
	cg := cgroupPaths{v1: map[string]string{}}
	s, ok := h.read("proc/self/cgroup")
	if !ok {
		return cg
	}
	for line := range strings.Lines(s) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			cg.v2, cg.hasV2 = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			cg.v1[c] = parts[2]
		}
	}
	return cg
}

// v1Files lists the candidate paths of a v1 controller file: the process's own group
// first, then the mount root (a container often sees its group as the root).
func (cg cgroupPaths) v1Files(controller, file string) []string {
	var out []string
	if p, ok := cg.v1[controller]; ok && p != "/" {
		out = append(out, filepath.Join("sys/fs/cgroup", controller, p, file))
	}
	return append(out, filepath.Join("sys/fs/cgroup", controller, file))
}

// v2Files lists the candidate paths of a v2 file, in the unified mount at
// /sys/fs/cgroup or, in hybrid mode, /sys/fs/cgroup/unified.
func (cg cgroupPaths) v2Files(file string) []string {
	var out []string
	for _, mnt := range []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"} {
		if cg.hasV2 && cg.v2 != "/" {
			out = append(out, filepath.Join(mnt, cg.v2, file))
		}
		out = append(out, filepath.Join(mnt, file))
	}
	return out
}

// memoryLimit is the cgroup memory limit in bytes, or 0 when there is none.
func (cg cgroupPaths) memoryLimit(h hostFS) uint64 {
	for _, f := range cg.v2Files("memory.max") {
		if s, ok := h.read(f); ok {
			if v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64); err == nil {
				return v
			}
			return 0 // "max"
		}
	}
	for _, f := range cg.v1Files("memory", "memory.limit_in_bytes") {
		if s, ok := h.read(f); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			// v1 reports "no limit" as a huge page-rounded number.
			if err != nil || v >= 1<<62 {
				return 0
			}
			return v
		}
	}
	return 0
}

// cpuQuota is the cgroup CPU quota in cores, or 0 when there is none.
func (cg cgroupPaths) cpuQuota(h hostFS) float64 {
	for _, f := range cg.v2Files("cpu.max") {
		if s, ok := h.read(f); ok {
			return parseCPUMax(s)
		}
	}
	for _, f := range cg.v1Files("cpu", "cpu.cfs_quota_us") {
		q, ok := h.read(f)
		if !ok {
			continue
		}
		p, ok := h.read(filepath.Join(filepath.Dir(f), "cpu.cfs_period_us"))
		if !ok {
			return 0
		}
		quota, err1 := strconv.ParseInt(strings.TrimSpace(q), 10, 64)
		period, err2 := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err1 != nil || err2 != nil || quota <= 0 || period <= 0 {
			return 0
		}
		return float64(quota) / float64(period)
	}
	return 0
}

// parseCPUMax reads a v2 cpu.max ("max 100000" or "50000 100000") as cores.
func parseCPUMax(s string) float64 {
	f := strings.Fields(s)
	if len(f) != 2 || f[0] == "max" {
		return 0
	}
	quota, err1 := strconv.ParseInt(f[0], 10, 64)
	period, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || quota <= 0 || period <= 0 {
		return 0
	}
	return float64(quota) / float64(period)
}
