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

// minParallelWork is the number of multiply-adds below which a kernel stays on the
// calling goroutine, and half of it the least work worth handing to one more
// goroutine. Waking a parked worker and sharing B's cache lines cost more than the
// arithmetic suggests: on the 2-core machine at load ~1, with 256K here a batch-1
// LeNet-5 ran at 0.87-0.92× ONNX Runtime's speed on 2 threads (slower than on 1), with
// 4M at 0.99-1.12×; ResNet-8 0.50-0.52× against 0.50-0.82× (bench/engine -quick, three
// runs each). Training GEMMs are far above it either way. The batch-1 convolution
// kernels share their chunks with spinning helpers from minSharedWork on instead
// (sharedFor).
const minParallelWork = 4 << 20

// parallelFor splits [0, n) into contiguous chunks, each a multiple of grain (except
// the last), and runs fn on them using up to MaxThreads goroutines, the caller's
// included. work is the total multiply-adds of the call; below minParallelWork, or with
// one thread, fn(0, n) runs inline.
func parallelFor(n, grain int, work int, fn func(lo, hi int)) {
	defer activeCalls.Add(-1)
	grain = max(grain, 1)
	threads, chunks := share(n, grain, int(activeCalls.Add(1)))
	if threads > 1 && work/threads < minParallelWork/2 {
		threads = work / (minParallelWork / 2)
	}
	if threads <= 1 {
		fn(0, n)
		return
	}
	YieldHelpers()
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

// sharedFor is parallelFor for the batch-1 inference kernels (the offsets GEMM of a
// shifted convolution, Winograd's): from minSharedWork on, with more than one thread
// free, the chunks (at most maxSharedUnits of them) are shared with the spinning
// helper goroutines (runShared) instead of handed to new ones. maxThreads > 0 caps the
// goroutines, the caller's included: an executor's WithThreads (an agent that
// benchmarks as a one-thread device must not get a helper). Training's GEMMs keep
// parallelFor: with helpers waking and parking around their own goroutines, ResNet-8's
// training steps ran 12-25% slower.
func sharedFor(n, grain, work, maxThreads int, fn func(lo, hi int)) {
	defer activeCalls.Add(-1)
	active := int(activeCalls.Add(1)) // (an inline call holds a thread too)
	grain = max(grain, 1)
	threads, chunks := share(n, grain, active)
	if maxThreads > 0 {
		threads = min(threads, maxThreads)
	}
	if threads <= 1 || inline(work, maxThreads) {
		fn(0, n)
		return
	}
	per := (chunks + maxSharedUnits - 1) / maxSharedUnits * grain
	runShared(n, per, threads-1, fn)
}

// share returns the chunks of grain in [0, n) and how many goroutines a call over
// them may use: its part of MaxThreads among the active kernel calls, at most one per
// chunk.
func share(n, grain, active int) (threads, chunks int) {
	chunks = (n + grain - 1) / grain
	return min(MaxThreads()/active, chunks), chunks
}

// maxSharedUnits caps the chunks of one shared call: enough for the helpers to
// balance uneven chunks, few enough that claiming them costs nothing.
const maxSharedUnits = 64

// inline reports whether sharedFor runs work multiply-adds capped at maxThreads on
// the caller alone whatever the other calls, so that a caller can skip making the
// closure (allocated on every call).
func inline(work, maxThreads int) bool {
	return work < minSharedWork || MaxThreads() == 1 || maxThreads == 1
}
