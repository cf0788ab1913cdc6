package prune

import (
	"math"
	"testing"
)

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"sparsity=0.95", "params=22000", "macs=0.25x", "macs=1e9", "sparsity=", "=x", "params=-0x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tg, err := ParseTarget(s)
		if err != nil {
			return
		}
		if math.IsNaN(tg.Value) || math.IsInf(tg.Value, 0) {
			t.Fatalf("%q: accepted value %v", s, tg.Value)
		}
		switch tg.Kind {
		case TargetSparsity:
			if tg.Value < 0 || tg.Value >= 1 {
				t.Fatalf("%q: accepted sparsity %v", s, tg.Value)
			}
		case TargetParams, TargetMACs:
			if tg.Value <= 0 || tg.Relative && tg.Value > 1 {
				t.Fatalf("%q: accepted budget %v (relative %v)", s, tg.Value, tg.Relative)
			}
		default:
			t.Fatalf("%q: accepted kind %q", s, tg.Kind)
		}
		back, err := ParseTarget(tg.String())
		if err != nil || back != tg {
			t.Fatalf("%q: String %q parses to %+v, %v", s, tg.String(), back, err)
		}
	})
}
