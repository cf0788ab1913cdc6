package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// maxThreads caps the goroutines one kernel call fans out to; 0 means GOMAXPROCS.
var maxThreads atomic.Int32

// SetMaxThreads caps the number of goroutines a single kernel call uses (the bench's
// -threads flag, or an agent that must leave cores free). n <= 0 restores the default,
// runtime.GOMAXPROCS(0). It is safe to call concurrently with running kernels.
func SetMaxThreads(n int) {
	if n < 0 {
		n = 0
	}
	maxThreads.Store(int32(n))
}

// MaxThreads returns the number of goroutines a kernel call may use.
func MaxThreads() int {
	p := runtime.GOMAXPROCS(0)
	if n := int(maxThreads.Load()); n > 0 && n < p {
		return n
	}
	return p
}

// activeCalls counts kernel calls in flight across goroutines. When the caller
// already runs kernels in parallel (the executor's convolution splits the batch over
// goroutines, each calling Gemm), fanning out again would only oversubscribe the
// cores, so each call gets its share of MaxThreads.
var activeCalls atomic.Int32

// minParallelWork is the number of multiply-adds from which a kernel call splits its
// work into equal shares on new goroutines, and half of it the least work worth
// handing to one more. Between minSharedWork and it, the call shares its chunks with
// the spinning helpers instead (runShared). Waking a parked goroutine costs more than
// the arithmetic suggests: on the 2-core machine at load ~1, with plain goroutines
// from 256K a batch-1 LeNet-5 ran at 0.87-0.92× ONNX Runtime's speed on 2 threads
// (slower than on 1), with 4M at 0.99-1.12× (bench/engine -quick, three runs each).
// Training GEMMs are far above it either way.
const minParallelWork = 4 << 20

// parallelFor splits [0, n) into contiguous chunks, each a multiple of grain (except
// the last), and runs fn on them using up to MaxThreads goroutines, the caller's
// included. work is the total multiply-adds of the call: below minSharedWork, or with
// one thread, fn(0, n) runs inline; below minParallelWork the chunks are shared with
// the spinning helpers (runShared); above it each goroutine gets an equal share.
func parallelFor(n, grain int, work int, fn func(lo, hi int)) {
	active := int(activeCalls.Add(1))
	defer activeCalls.Add(-1)
	threads := MaxThreads() / active
	if grain < 1 {
		grain = 1
	}
	chunks := (n + grain - 1) / grain
	if threads > chunks {
		threads = chunks
	}
	if threads > 1 && work >= minSharedWork && work < minParallelWork {
		runShared(n, grain, threads-1, fn)
		return
	}
	if threads > 1 && work/threads < minParallelWork/2 {
		threads = work / (minParallelWork / 2)
	}
	if threads <= 1 {
		fn(0, n)
		return
	}
	per := (chunks + threads - 1) / threads * grain
	var wg sync.WaitGroup
	for lo := per; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	fn(0, min(per, n))
	wg.Wait()
}

// inline reports whether parallelFor would run work multiply-adds on the caller
// alone, so that a caller can skip making the closure (allocated on every call).
func inline(work int) bool {
	return work < minSharedWork || MaxThreads() == 1
}
