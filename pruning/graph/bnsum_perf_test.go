package graph

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Plain one-accumulator loops: the reference for the unrolled reductions.
func sum64Plain(v []float32) (s float64) {
	for _, x := range v {
		s += float64(x)
	}
	return s
}

// sumDyDyXPlain is the definition, Σg and Σg·(x-mean)·inv, all in float64.
func sumDyDyXPlain(g, x []float32, mean, inv float32) (a, b float64) {
	for i, v := range g {
		a += float64(v)
		b += float64(v) * (float64(x[i]) - float64(mean)) * float64(inv)
	}
	return a, b
}

func bnPlane(n int) (x, g []float32) {
	rng := rand.New(rand.NewPCG(5, 6))
	x, g = make([]float32, n), make([]float32, n)
	for i := range x {
		x[i], g[i] = rng.Float32()*4-1, rng.Float32()-0.5
	}
	return x, g
}

// TestBNSumsMatchPlainLoops checks the unrolled reductions against one-accumulator
// sums, for lengths around the unroll width.
func TestBNSumsMatchPlainLoops(t *testing.T) {
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*(1+math.Abs(b)) }
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 49, 196, 784} {
		x, g := bnPlane(n)
		if s, w := sum64(x), sum64Plain(x); !close(s, w) {
			t.Fatalf("n=%d: sum64 = %v, want %v", n, s, w)
		}
		var w float64
		for _, v := range x {
			w += (float64(v) - 0.3) * (float64(v) - 0.3)
		}
		if s := sumSqDev64(x, 0.3); !close(s, w) {
			t.Fatalf("n=%d: sumSqDev64 = %v, want %v", n, s, w)
		}
		a, b := sumDyDyX(g, x, 0.2, 1.7)
		wa, wb := sumDyDyXPlain(g, x, 0.2, 1.7)
		if !close(a, wa) || !close(b, wb) {
			t.Fatalf("n=%d: sumDyDyX = %v, %v, want %v, %v", n, a, b, wa, wb)
		}
	}
}

// BenchmarkBNSums compares the plain and unrolled reductions on a 28×28 plane.
func BenchmarkBNSums(b *testing.B) {
	x, g := bnPlane(784)
	var sink float64
	b.Run("sum/plain", func(b *testing.B) {
		for range b.N {
			sink += sum64Plain(x)
		}
	})
	b.Run("sum/unrolled", func(b *testing.B) {
		for range b.N {
			sink += sum64(x)
		}
	})
	b.Run("dydx/plain", func(b *testing.B) {
		for range b.N {
			p, q := sumDyDyXPlain(g, x, 0.2, 1.7)
			sink += p + q
		}
	})
	b.Run("dydx/unrolled", func(b *testing.B) {
		for range b.N {
			p, q := sumDyDyX(g, x, 0.2, 1.7)
			sink += p + q
		}
	})
	_ = sink
}
