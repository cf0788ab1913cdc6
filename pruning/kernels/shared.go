package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// minSharedWork is the number of multiply-adds from which a kernel call shares its
// chunks with the helper goroutines (runShared): one batch-1 convolution of ResNet-8
// (0.9M–1.8M multiply-adds, 25–40 µs on one core) is worth splitting, a 1×1 shortcut
// (0.1M) is not.
const minSharedWork = 256 << 10

// helperSpin is how long a helper goroutine keeps polling for work after its last
// chunk before it parks: longer than the gap between two convolutions of a run, or
// two runs of a latency loop, so that a helper stays awake through a model's run.
const helperSpin = 200 * time.Microsecond

// sharedJob is one call's chunks, [0, units) of size per over [0, n), claimed one at
// a time by whoever comes: the caller and any helper awake.
type sharedJob struct {
	fn         func(lo, hi int)
	n, per     int
	units      int64
	next, done atomic.Int64
}

// helpers are goroutines that poll for shared jobs, each until helperSpin passes
// without one, and then park until the next job wakes them. Waking a parked goroutine
// on the other core took tens of µs at unpredictable times on the 2-core VM (as long
// as a whole batch-1 convolution), which is why batch-1 kernels used to stay on one
// core: a spinning helper picks a job up within a poll, and the caller never waits
// for one to arrive, only for chunks a helper has already started.
var helpers struct {
	mu sync.Mutex
	// started counts the helper goroutines: written under mu, read without it.
	started atomic.Int32
	job     atomic.Pointer[sharedJob]
	wake    chan struct{}
	parked  atomic.Int32
	// yield is bumped by YieldHelpers: a helper that sees it change parks at once.
	yield atomic.Int64
}

// YieldHelpers makes the spinning helpers park now instead of after helperSpin. Code
// about to fan out to goroutines of its own calls it first: a spinning helper holds
// a P, and since it yields to the global run queue, the scheduler keeps picking it
// again while the new goroutines wait in another P's queue (LeNet-300-100 at batch 64
// ran 1.46× slower with helpers spinning beside its 2-goroutine GEMMs). A parked
// helper is woken by the next shared job.
func YieldHelpers() {
	if helpers.parked.Load() < helpers.started.Load() {
		helpers.yield.Add(1)
	}
}

// runShared runs fn over [0, n) in chunks of grain, shared between the caller and up
// to k helper goroutines (started on first use). Every chunk runs exactly once, so the
// results are those of fn(0, n) when fn writes only chunk-owned memory.
func runShared(n, grain, k int, fn func(lo, hi int)) {
	startHelpers(k)
	j := &sharedJob{fn: fn, n: n, per: grain, units: int64((n + grain - 1) / grain)}
	helpers.job.Store(j)
	if helpers.parked.Load() > 0 {
		select {
		case helpers.wake <- struct{}{}:
		default:
		}
	}
	j.run()
	for polls := 0; j.done.Load() < j.units; polls++ {
		// Only chunks a helper is running are left.
		pollWait(polls)
	}
}

// run claims and runs j's chunks until none is left.
func (j *sharedJob) run() {
	for {
		u := j.next.Add(1) - 1
		if u >= j.units {
			return
		}
		lo := int(u) * j.per
		j.fn(lo, min(lo+j.per, j.n))
		j.done.Add(1)
	}
}

// startHelpers makes sure k helper goroutines exist. They live for the process, as a
// thread pool does; parked, they cost nothing but their stacks.
func startHelpers(k int) {
	helpers.mu.Lock()
	defer helpers.mu.Unlock()
	if helpers.wake == nil {
		helpers.wake = make(chan struct{}, 64)
	}
	for ; int(helpers.started.Load()) < k; helpers.started.Add(1) {
		go helperLoop()
	}
}

// helperLoop polls for jobs it has not seen, yielding its thread between polls, and
// parks after helperSpin without one, or when YieldHelpers asks.
func helperLoop() {
	var last *sharedJob
	idle, yield := time.Now(), helpers.yield.Load()
	for polls := 0; ; polls++ {
		if j := helpers.job.Load(); j != nil && j != last {
			last = j
			j.run()
			idle, polls = time.Now(), 0
			continue
		}
		if y := helpers.yield.Load(); y != yield || polls%64 == 63 && time.Since(idle) > helperSpin {
			helpers.parked.Add(1)
			<-helpers.wake
			helpers.parked.Add(-1)
			idle, polls, yield = time.Now(), 0, helpers.yield.Load()
			continue
		}
		pollWait(polls)
	}
}

// pollWait is the pause between two polls of a spinning goroutine: PAUSE
// instructions, and the scheduler every eighth poll so that goroutines waiting for
// this thread get it. A poll loop of runtime.Gosched alone kept the core's other
// hardware thread busy with scheduler code: where the two threads of an executor are
// hyperthreads of one core (this CI's 2-vCPU machines behave so), a spinning helper
// slowed the caller's own kernels more than sharing gained (a pruned ResNet-8 ran
// 4-10% slower on two threads than on one).
func pollWait(polls int) {
	spinPause(pollPauses)
	if polls%8 == 7 {
		runtime.Gosched()
	}
}

// pollPauses is the PAUSE instructions per poll: about a microsecond here (a PAUSE
// took 27-30 ns on this AMD EPYC), far below a chunk's time.
const pollPauses = 30
