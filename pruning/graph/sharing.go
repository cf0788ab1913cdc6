package graph

import (
	"context"
	"time"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// shareChoice is whether a plan's convolutions share their kernels' chunks with the
// helper goroutines (kernels' batch-1 sharing) or run them alone.
type shareChoice uint8

const (
	shareUntimed shareChoice = iota
	shareHelpers
	shareAlone
)

// shareTimingRounds is how many whole runs pickSharing times each way, alternating,
// unless shareTimingBudget runs out first.
const (
	shareTimingRounds = 15
	shareTimingBudget = 50 * time.Millisecond
)

// pickSharing decides, at a plan's first inference, whether its convolutions share
// their kernels with the helpers: by timing whole runs both ways, alternating, and
// keeping the way whose best run is faster. It applies to batch-1 plans of
// executors with constant weights on two or more threads (kernels share only at
// batch 1, and only constant weights are worth timing once); other plans share as
// their kernels decide. A second core pays on a machine that has one. On this CI's
// 2-vCPU machines, which behave as two hardware threads of one core, sharing gained
// ResNet-8 0-9% and cost the same model pruned to a quarter of its MACs 1-8% (its
// small convolutions split for little, and a helper spinning beside the caller's
// kernels slows them); per convolution, timed alone, the choice came out the other
// way, which is why whole runs are timed. The outputs are the same either way:
// sharing splits a kernel's columns, never its sums. Timing runs do not count in
// Timings.
func (e *Executor) pickSharing(ctx context.Context, p *plan, inputs map[string]*tensor.Tensor) error {
	if e.cfg.training || !e.cfg.constant || e.cfg.threads < 2 || kernels.MaxThreads() < 2 || serialGemmTiles() || !p.batchOne() || !p.hasConv() {
		p.sharing = shareHelpers
		return nil
	}
	defer e.keepTimings()()
	best, err := alternate(2, shareTimingRounds, shareTimingBudget, func(way int) error {
		p.sharing = []shareChoice{shareHelpers, shareAlone}[way]
		if p.sharing == shareAlone {
			kernels.YieldHelpers() // (no helper spinning from the run before)
		}
		p.shareRuns++
		_, err := e.forward(ctx, inputs, false)
		return err
	})
	if err != nil {
		p.sharing = shareUntimed
		return err
	}
	p.sharing = shareHelpers
	if best[1] < best[0] {
		p.sharing = shareAlone
	}
	return nil
}

// batchOne reports whether every input of p has batch size 1.
func (p *plan) batchOne() bool {
	for _, s := range p.inShapes {
		if len(s) == 0 || s[0] != 1 {
			return false
		}
	}
	return true
}

// hasConv reports whether p runs a convolution (whose kernels may share).
func (p *plan) hasConv() bool {
	for _, o := range p.ops {
		if _, ok := o.(*convOp); ok {
			return true
		}
	}
	return false
}
