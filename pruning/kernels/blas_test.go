package kernels

import (
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// countingBLAS is a blas.Float32 that counts Sgemm calls and delegates to gonum, as a
// server build's optimized BLAS would be plugged in.
type countingBLAS struct {
	gonum.Implementation
	calls *atomic.Int32
}

func (c countingBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, cm []float32, ldc int) {
	c.calls.Add(1)
	c.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc)
}

// TestGemmUsesPluggedBLAS checks that blas32.Use swaps the implementation behind Gemm
// and that KernelName says so.
func TestGemmUsesPluggedBLAS(t *testing.T) {
	var calls atomic.Int32
	blas32.Use(countingBLAS{calls: &calls})
	t.Cleanup(func() { blas32.Use(gonum.Implementation{}) })
	r := rand.New(rand.NewPCG(19, 20))
	a, b := randSlice(r, 64*300), randSlice(r, 300*100)
	c := make([]float32, 64*100)
	want := slices.Clone(c)
	refGemm(false, false, 64, 100, 300, 1, a, 300, b, 100, 0, want, 100)
	Gemm(false, false, 64, 100, 300, 1, a, 300, b, 100, 0, c, 100)
	checkClose(t, "plugged BLAS", c, want, 300)
	if got := calls.Load(); got != 1 {
		t.Errorf("plugged Sgemm calls: got %d, want 1", got)
	}
	if name := KernelName(); !strings.Contains(name, "countingBLAS") {
		t.Errorf("KernelName() = %q, want it to name the plugged implementation", name)
	}
}

// TestParallelForCoversOnce checks that every index runs exactly once, in chunks that
// respect the grain, for thread caps from 1 to 4, also when calls run concurrently.
func TestParallelForCoversOnce(t *testing.T) {
	defer SetMaxThreads(0)
	for _, threads := range []int{1, 2, 3, 4} {
		SetMaxThreads(threads)
		for _, n := range []int{0, 1, 7, 64, 1000} {
			for _, grain := range []int{1, 4, 16} {
				hits := make([]atomic.Int32, n)
				done := make(chan struct{})
				go func() {
					defer close(done)
					parallelFor(n, grain, 1<<30, func(lo, hi int) {})
				}()
				parallelFor(n, grain, 1<<30, func(lo, hi int) {
					if lo%grain != 0 {
						t.Errorf("n=%d grain=%d: chunk starts at %d", n, grain, lo)
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				<-done
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads=%d n=%d grain=%d: index %d ran %d times", threads, n, grain, i, h)
					}
				}
			}
		}
	}
}

func TestSetMaxThreads(t *testing.T) {
	defer SetMaxThreads(0)
	SetMaxThreads(1)
	if got := MaxThreads(); got != 1 {
		t.Errorf("after SetMaxThreads(1): MaxThreads() = %d, want 1", got)
	}
	SetMaxThreads(-3)
	if got := MaxThreads(); got < 1 {
		t.Errorf("after SetMaxThreads(-3): MaxThreads() = %d, want GOMAXPROCS", got)
	}
}
