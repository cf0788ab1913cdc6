package agent

import "context"

// BenchGate lets at most n benchmarks run at once among the agents that share it.
type BenchGate struct{ slots chan struct{} }

// NewBenchGate returns a gate of n slots (at least 1).
func NewBenchGate(n int) *BenchGate { return &BenchGate{slots: make(chan struct{}, max(n, 1))} }

// Acquire waits for a slot, or returns ctx's error. A nil gate never waits. Other
// CPU-heavy work in the same process (the coordinator's fine-tuning next to local
// agents) takes slots too, so that it never runs beside a benchmark.
func (g *BenchGate) Acquire(ctx context.Context) error { return g.acquire(ctx) }

// Release gives back a slot taken by Acquire.
func (g *BenchGate) Release() { g.release() }

// acquire waits for a slot; release gives it back. A nil gate never waits.
func (g *BenchGate) acquire(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *BenchGate) release() {
	if g != nil {
		<-g.slots
	}
}
