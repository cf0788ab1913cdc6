package graph

import (
	"sync"

	"github.com/fleetprune/fleetprune/pruning/kernels"
)

// parallelFor calls fn(i) for i in [0, n), spread over up to threads goroutines. Each
// index runs exactly once, so results do not depend on the thread count as long as fn
// writes only to index-owned memory.
func parallelFor(threads, n int, fn func(i int)) {
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	spread(threads, n, func(t, i int) { fn(i) })
}

// minParallelElems is the element count from which an element-wise pass is split
// across threads: below it the goroutine handoff costs more than the memory pass.
const minParallelElems = 64 << 10

// parallelRange calls fn on contiguous sub-ranges of [0, n), one per thread when n is
// at least minParallelElems, else fn(0, n) on the caller.
func parallelRange(threads, n int, fn func(lo, hi int)) {
	if threads <= 1 || n < minParallelElems {
		fn(0, n)
		return
	}
	parallelFor(threads, threads, func(i int) {
		fn(i*n/threads, (i+1)*n/threads)
	})
}

// parallelForT is parallelFor that also tells fn which of the goroutines (0..threads-1)
// runs it, so that fn can use per-goroutine scratch.
func parallelForT(threads, n int, fn func(t, i int)) {
	if threads > n {
		threads = n
	}
	if threads <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	spread(threads, n, fn)
}

// spread is parallelFor's fan-out over 2 ≤ threads ≤ n goroutines, apart so that the
// variables its goroutines share are allocated only when it runs (kept in
// parallelFor, they were allocated on every call, on one thread too).
func spread(threads, n int, fn func(t, i int)) {
	kernels.YieldHelpers() // (see there: spinning helpers would hold a P)
	var wg sync.WaitGroup
	wg.Add(threads - 1)
	for t := 1; t < threads; t++ {
		go func(t int) {
			defer wg.Done()
			for i := t; i < n; i += threads {
				fn(t, i)
			}
		}(t)
	}
	// The caller takes the first share instead of parking: one goroutine fewer to
	// wake, and the caller's cache is already warm.
	for i := 0; i < n; i += threads {
		fn(0, i)
	}
	wg.Wait()
}
