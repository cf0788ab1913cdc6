package kernels

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunShared checks that chunks shared with the helpers run exactly once each,
// cover [0, n) with the grain, that sharedFor keeps to its caller's thread cap, for
// one and several concurrent callers (the second and
// later callers of parallelFor run inline; runShared itself must stay correct when
// two jobs overlap), and that the helpers park once helperSpin has passed without a
// job instead of polling forever.
func TestRunShared(t *testing.T) {
	for _, tc := range []struct{ n, grain, k int }{{1, 1, 1}, {10, 3, 1}, {97, 4, 1}, {1000, 1, 3}, {24, 24, 1}} {
		hits := make([]atomic.Int32, tc.n)
		var bad atomic.Int32
		runShared(tc.n, tc.grain, tc.k, func(lo, hi int) {
			if lo%tc.grain != 0 || hi > tc.n || hi <= lo || (hi-lo != tc.grain && hi != tc.n) {
				bad.Add(1)
			}
			for i := lo; i < hi; i++ {
				hits[i].Add(1)
			}
		})
		if bad.Load() != 0 {
			t.Fatalf("n=%d grain=%d: %d chunks with bad bounds", tc.n, tc.grain, bad.Load())
		}
		for i := range hits {
			if h := hits[i].Load(); h != 1 {
				t.Fatalf("n=%d grain=%d: element %d ran %d times", tc.n, tc.grain, i, h)
			}
		}
	}
	// sharedFor within its caller's thread cap: one thread, one call of fn.
	if MaxThreads() > 1 {
		for _, tc := range []struct{ maxThreads, wantMin, wantMax int }{{1, 1, 1}, {0, 2, 64}, {2, 2, 64}} {
			var calls atomic.Int32
			sharedFor(100, 1, 1<<20, tc.maxThreads, func(lo, hi int) { calls.Add(1) })
			if c := int(calls.Load()); c < tc.wantMin || c > tc.wantMax {
				t.Errorf("sharedFor with maxThreads %d: fn called %d times, want %d..%d", tc.maxThreads, c, tc.wantMin, tc.wantMax)
			}
		}
	}
	// Overlapping jobs from several goroutines.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				n := 50 + g
				var sum atomic.Int64
				runShared(n, 2, 2, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						sum.Add(int64(i))
					}
				})
				if want := int64(n * (n - 1) / 2); sum.Load() != want {
					t.Errorf("concurrent job: sum %d, want %d", sum.Load(), want)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		started := helpers.started.Load()
		if helpers.parked.Load() == started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d helpers parked %v after the last job", helpers.parked.Load(), started, 5*time.Second)
		}
		time.Sleep(helperSpin)
	}
}

// TestSharedForOffsets checks that an offsets GEMM above minSharedWork (a batch-1
// convolution's) gives bit for bit the result of the same GEMM on one thread (with
// the packed kernels its column panels are shared with the helpers).
func TestSharedForOffsets(t *testing.T) {
	m, n, k := 32, 240, 144 // 1.1M multiply-adds
	r := rand.New(rand.NewPCG(21, 22))
	a := randSlice(r, m*k)
	pa := PackA(false, m, k, 1, a, k)
	nc := pa.OffsetCols(n)
	b := randSlice(r, k+nc)
	offs := make([]int32, k)
	for p := range offs {
		offs[p] = int32(p)
	}
	want, got := make([]float32, m*nc), make([]float32, m*nc)
	defer SetMaxThreads(0)
	SetMaxThreads(1)
	GemmAOffsets(pa, n, b, offs, want, nc, nil, 0)
	SetMaxThreads(2)
	for range 20 {
		GemmAOffsets(pa, n, b, offs, got, nc, nil, 0)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("element %d: %v on two threads, %v on one", i, got[i], want[i])
			}
		}
	}
}
