package profiles

import (
	"encoding/json"
	"os"
	"testing"
)

func FuzzParseFleet(f *testing.F) {
	if b, err := os.ReadFile("testdata/fleet.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("models:" + validModel + "classes:" + validClass))
	f.Add([]byte("classes: [\n"))
	f.Add([]byte("models:\n  - &m {name: m}\n  - *m\n"))
	f.Add([]byte(`{"classes":[{"name":"a","selector":"has avx2","slo":{"p95Latency":"1ms"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := ParseFleet(b)
		if err != nil {
			if fl != nil {
				t.Fatalf("fleet returned with error %v", err)
			}
			return
		}
		// An accepted document survives a JSON round trip unchanged.
		js, err := json.Marshal(fl)
		if err != nil {
			t.Fatalf("marshal accepted fleet: %v", err)
		}
		if _, err := ParseFleet(js); err != nil {
			t.Fatalf("accepted fleet does not re-parse from JSON: %v\n%s", err, js)
		}
	})
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"", "arch=amd64", "cores>=4, memory>=2GiB", "has avx2, !has avx512f", "zone in (a,b)", "x notin (y)", "has=x", "cpuQuota<=0.5"} {
		f.Add(s)
	}
	p := HardwareProfile{Arch: "amd64", Cores: 4, MemoryBytes: 4 * GiB, SIMDFlags: []string{"avx2"}, Labels: map[string]string{"zone": "a"}}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := ParseSelector(src)
		if err != nil {
			return
		}
		got := s.Matches(p)
		back, err := ParseSelector(s.String())
		if err != nil {
			t.Fatalf("selector %q does not re-parse: %v", s, err)
		}
		if back.Matches(p) != got {
			t.Fatalf("re-parsed selector %q matches differently", s)
		}
	})
}
