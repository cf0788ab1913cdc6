package profiles

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantCol int
		wantMsg string
	}{
		{"missing value", "cores>=", 8, "expected a value"},
		{"bad int", "cores>=x", 8, `"x" is not an integer`},
		{"bad size", "memory>=2GX", 9, "not a size"},
		{"ordered on string", "arch>amd64", 5, "needs a number"},
		{"ordered on label", "zone<=3", 5, "needs a number"},
		{"missing operator", "arch amd64", 6, "expected an operator"},
		{"unclosed list", "zone in (a,b", 13, "expected ',' or ')'"},
		{"in without paren", "zone in a", 9, "expected '('"},
		{"empty list", "zone in ()", 10, "expected a value"},
		{"trailing comma", "arch=amd64,", 12, "expected a key"},
		{"double comma", "arch=amd64,,cores=2", 12, "expected a key"},
		{"bad char", "arch=amd64; cores=2", 11, "unexpected character"},
		{"bang without has", "!arch=amd64", 2, `expected "has"`},
		{"has without flag", "has", 4, "expected a SIMD flag"},
		{"junk after requirement", "arch=amd64 cores=2", 12, "expected ',' or end"},
		{"negative quota", "cpuQuota<=-1", 11, "not a number of cores"},
		{"bad label value", "zone=a*b", 7, "unexpected character"},
		{"label key too long", strings.Repeat("k", 70) + "=v", 1, "label key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSelector(tt.src)
			var se *SelectorError
			if !errors.As(err, &se) {
				t.Fatalf("ParseSelector(%q) error = %v, want a *SelectorError", tt.src, err)
			}
			if se.Pos+1 != tt.wantCol {
				t.Errorf("ParseSelector(%q) column = %d, want %d (%v)", tt.src, se.Pos+1, tt.wantCol, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("ParseSelector(%q) error = %q, want it to contain %q", tt.src, err, tt.wantMsg)
			}
		})
	}
}

func TestSelectorMatches(t *testing.T) {
	pi := HardwareProfile{Arch: "arm64", Cores: 4, MemoryBytes: 2 * GiB, SIMDFlags: []string{"neon"},
		OS: "linux", Runtimes: []string{"fleetprune-go"}, Labels: map[string]string{"site": "lab", "tier": "edge"}}
	pc := HardwareProfile{Arch: "amd64", Cores: 8, MemoryBytes: 16 * GiB, SIMDFlags: []string{"avx2", "fma"},
		OS: "linux", Threads: 2, CPUQuota: 0.5, Labels: map[string]string{"site": "dc", "has": "x"}}
	tests := []struct {
		sel    string
		wantPi bool
		wantPc bool
	}{
		{"", true, true},
		{"arch=amd64", false, true},
		{"arch==amd64", false, true},
		{"arch!=amd64", true, false},
		{"arch in (arm64, arm)", true, false},
		{"arch notin (arm64,arm)", false, true},
		{"cores>=4", true, true},
		{"cores>4", false, true},
		{"cores<8", true, false},
		{"cores<=8, cores>=8", false, true},
		{"cores=4", true, false},
		{"cores!=4", false, true},
		{"cores in (2,4)", true, false},
		{"threads>=2", false, true},
		{"memory>=2GiB", true, true},
		{"memory>2GiB", false, true},
		{"memory<4Gi", true, false},
		{"memory>=2147483648", true, true},
		{"has avx2", false, true},
		{"!has avx2", true, false},
		{"has neon, arch=arm64", true, false},
		{"simd=fma", false, true},
		{"simd in (neon,fma)", true, true},
		{"simd notin (neon)", false, true},
		{"runtime=fleetprune-go", true, false},
		{"runtime!=fleetprune-go", false, true},
		{"site=lab", true, false},
		{"site!=lab", false, true},
		{"tier!=edge", false, true}, // a missing label is not edge
		{"tier=edge", true, false},
		{"tier in (edge,core)", true, false},
		{"tier notin (edge)", false, true},
		{"labels.site=dc", false, true},
		{"has=x", false, true}, // "has" as a label key
		{"cpuQuota<=1", false, true},
		{"cpuQuota>=4", true, false}, // no quota: counts its cores
		{"os=linux, arch=amd64, has avx2, cores>=2, site in (dc)", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			s, err := ParseSelector(tt.sel)
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.sel, err)
			}
			if got := s.Matches(pi); got != tt.wantPi {
				t.Errorf("Matches(arm64 board) = %v, want %v", got, tt.wantPi)
			}
			if got := s.Matches(pc); got != tt.wantPc {
				t.Errorf("Matches(amd64 box) = %v, want %v", got, tt.wantPc)
			}
		})
	}
}

func TestSelectorTextRoundTrip(t *testing.T) {
	src := "arch=amd64, has avx2, memory>=2GiB, zone in (a,b)"
	s := MustParseSelector(src)
	b, err := s.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back Selector
	if err := back.UnmarshalText(b); err != nil {
		t.Fatalf("UnmarshalText(%q): %v", b, err)
	}
	if back.String() != src || len(back.reqs) != 4 {
		t.Fatalf("round trip = %q with %d requirements, want %q with 4", back, len(back.reqs), src)
	}
}

func TestPlace(t *testing.T) {
	classes := []DeviceClass{
		{Name: "fallback", Selector: MustParseSelector("")},
		{Name: "big", Priority: 10, Selector: MustParseSelector("cores>=4")},
		{Name: "avx", Priority: 10, Selector: MustParseSelector("has avx2")},
		{Name: "arm", Priority: 5, Selector: MustParseSelector("arch=arm64")},
		{Name: "never", Priority: 100, Selector: MustParseSelector("arch=riscv64")},
	}
	tests := []struct {
		name string
		p    HardwareProfile
		want string
	}{
		{"tie broken by name", HardwareProfile{Arch: "amd64", Cores: 8, SIMDFlags: []string{"avx2"}}, "avx"},
		{"priority first", HardwareProfile{Arch: "arm64", Cores: 8}, "big"},
		{"lower priority match", HardwareProfile{Arch: "arm64", Cores: 2}, "arm"},
		{"catch-all", HardwareProfile{Arch: "amd64", Cores: 1}, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Place(classes, tt.p)
			if !ok || got.Name != tt.want {
				t.Errorf("Place = %q (%v), want %q", got.Name, ok, tt.want)
			}
		})
	}
	if _, ok := Place(classes[1:2], HardwareProfile{Cores: 1}); ok {
		t.Errorf("Place matched a class whose selector does not match")
	}
}

func TestPlaceAgreesWithSortForPlacement(t *testing.T) {
	var classes []DeviceClass
	sels := []string{"", "cores>=2", "cores>=4", "has avx2", "arch=arm64", "memory>=1GiB", "site=lab"}
	for i := 0; i < 40; i++ {
		classes = append(classes, DeviceClass{Name: fmt.Sprintf("c%02d", (i*17)%40), Priority: (i * 7) % 5, Selector: MustParseSelector(sels[i%len(sels)])})
	}
	profiles := []HardwareProfile{
		{Arch: "amd64", Cores: 1},
		{Arch: "arm64", Cores: 8, MemoryBytes: 4 * GiB},
		{Arch: "amd64", Cores: 4, SIMDFlags: []string{"avx2"}, Labels: map[string]string{"site": "lab"}},
	}
	for _, p := range profiles {
		got, ok := Place(classes, p)
		var want DeviceClass
		for _, c := range SortForPlacement(classes) {
			if c.Selector.Matches(p) {
				want = c
				break
			}
		}
		if !ok || got.Name != want.Name {
			t.Errorf("Place(%+v) = %s, want %s (first in SortForPlacement order)", p, got.Name, want.Name)
		}
	}
}
