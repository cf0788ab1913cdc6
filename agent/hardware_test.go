package agent

import (
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
)

func TestDetectHardwareOnThisMachine(t *testing.T) {
	p := DetectHardware()
	if p.GetArch() != runtime.GOARCH || p.GetOs() != runtime.GOOS {
		t.Errorf("arch/os = %s/%s, want %s/%s", p.GetArch(), p.GetOs(), runtime.GOARCH, runtime.GOOS)
	}
	if p.GetCores() < 1 || int(p.GetCores()) != runtime.NumCPU() {
		t.Errorf("cores = %d, want %d", p.GetCores(), runtime.NumCPU())
	}
	if !slices.Contains(p.GetRuntimes(), RuntimeGo) {
		t.Errorf("runtimes = %v, want %s", p.GetRuntimes(), RuntimeGo)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if p.GetMemoryBytes() < 64<<20 {
		t.Errorf("memory = %d bytes, want at least 64 MiB", p.GetMemoryBytes())
	}
	if b, _ := os.ReadFile("/proc/meminfo"); len(b) > 0 && p.GetMemoryBytes() > parseMemTotal(string(b)) {
		t.Errorf("memory %d exceeds MemTotal %d", p.GetMemoryBytes(), parseMemTotal(string(b)))
	}
	if p.GetCpuModel() == "" {
		t.Error("no CPU model read from /proc/cpuinfo")
	}
	if runtime.GOARCH == "amd64" && !slices.Contains(p.GetSimdFlags(), "sse4_2") {
		t.Errorf("simd flags %v lack sse4_2, which every x86-64-v2 CPU has", p.GetSimdFlags())
	}
	for _, f := range p.GetSimdFlags() {
		if !slices.Contains(simdFlags, f) {
			t.Errorf("flag %q is not one of %v", f, simdFlags)
		}
	}
	if p.GetCpuQuota() < 0 {
		t.Errorf("cpu quota %g < 0", p.GetCpuQuota())
	}
}

// writeTree writes files under a fresh root, for a host with chosen /proc and /sys.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectHardwareFromFiles(t *testing.T) {
	const x86 = "processor\t: 0\nmodel name\t: Test CPU @ 2GHz\nflags\t\t: fpu sse sse4_2 avx avx2 fma avx512f\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 2GHz\nflags\t\t: fpu sse4_2\n"
	const arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU part\t: 0xd08\nModel\t: Raspberry Pi 4 Model B\n"
	const meminfo = "MemTotal:        8000000 kB\nMemFree:  100 kB\n"
	tests := []struct {
		name     string
		files    map[string]string
		model    string
		flags    []string
		memory   uint64
		cpuQuota float64
	}{
		{name: "nothing readable"},
		{
			name: "x86 with v1 cgroup limits in own group",
			files: map[string]string{
				"proc/cpuinfo":     x86,
				"proc/meminfo":     meminfo,
				"proc/self/cgroup": "4:memory:/box\n1:cpu:/box\n0::/\n",
				"sys/fs/cgroup/memory/box/memory.limit_in_bytes": "1073741824\n",
				"sys/fs/cgroup/cpu/box/cpu.cfs_quota_us":         "50000\n",
				"sys/fs/cgroup/cpu/box/cpu.cfs_period_us":        "100000\n",
			},
			model: "Test CPU @ 2GHz", flags: []string{"avx", "avx2", "avx512f", "fma", "sse4_2"},
			memory: 1 << 30, cpuQuota: 0.5,
		},
		{
			name: "arm with v2 limits",
			files: map[string]string{
				"proc/cpuinfo":                 arm,
				"proc/meminfo":                 meminfo,
				"proc/self/cgroup":             "0::/svc\n",
				"sys/fs/cgroup/svc/cpu.max":    "150000 100000\n",
				"sys/fs/cgroup/svc/memory.max": "max\n",
			},
			model: "Raspberry Pi 4 Model B", flags: []string{"asimd", "neon"},
			memory: 8000000 * 1024, cpuQuota: 1.5,
		},
		{
			name: "unlimited v1 and garbage",
			files: map[string]string{
				"proc/meminfo":                               "MemTotal: lots kB\n",
				"proc/self/cgroup":                           "garbage\n1:cpu:/\n",
				"sys/fs/cgroup/cpu/cpu.cfs_quota_us":         "-1\n",
				"sys/fs/cgroup/cpu/cpu.cfs_period_us":        "100000\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
		},
		{
			name:  "v2 max quota",
			files: map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/cpu.max": "max 100000\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := hostFS{root: writeTree(t, tt.files)}.detect()
			if p.GetCpuModel() != tt.model || !slices.Equal(p.GetSimdFlags(), tt.flags) {
				t.Errorf("model %q flags %v, want %q %v", p.GetCpuModel(), p.GetSimdFlags(), tt.model, tt.flags)
			}
			if p.GetMemoryBytes() != tt.memory || p.GetCpuQuota() != tt.cpuQuota {
				t.Errorf("memory %d quota %g, want %d %g", p.GetMemoryBytes(), p.GetCpuQuota(), tt.memory, tt.cpuQuota)
			}
			if p.GetArch() != runtime.GOARCH || p.GetCores() < 1 {
				t.Errorf("arch %q cores %d", p.GetArch(), p.GetCores())
			}
		})
	}
}

func TestParseLabels(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{in: "", want: map[string]string{}},
		{in: "site=lab", want: map[string]string{"site": "lab"}},
		{in: "site=lab, tier=gold,zone=", want: map[string]string{"site": "lab", "tier": "gold", "zone": ""}},
		{in: "example.com/role=camera-2", want: map[string]string{"example.com/role": "camera-2"}},
		{in: "site", wantErr: true},
		{in: "=lab", wantErr: true},
		{in: "site=lab,site=home", wantErr: true},
		{in: "si te=lab", wantErr: true},
		{in: "site=la b", wantErr: true},
		{in: "site=-lab", wantErr: true},
		{in: "site=lab,", wantErr: true},
		{in: "k=" + string(make([]byte, 64)), wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseLabels(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseLabels(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && !maps.Equal(got, tt.want) {
			t.Errorf("ParseLabels(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
