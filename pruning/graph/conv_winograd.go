package graph

import (
	"time"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// winoChoice is what timing said about a convolution's Winograd route.
type winoChoice uint8

const (
	winoUntimed winoChoice = iota
	winoFaster
	winoSlower
)

// winoMinChannels is the fewest input channels planWinograd takes: the transforms
// cost as much per channel as 16 multiply-adds per filter, so a shallow GEMM does
// not repay them (ResNet-8's stem, one channel: 25µs as Winograd, 9µs shifted).
const winoMinChannels = 4

// winoTimingRounds is how many forwards pickWinograd times each way, alternating,
// unless winoTimingBudget runs out first (large batches).
const (
	winoTimingRounds = 20
	winoTimingBudget = 20 * time.Millisecond
)

// pickWinograd times this convolution's forward on in and out both ways,
// alternating, and keeps Winograd when its best time beats the other route's. Which
// wins depends on the shape and the machine: on ResNet-8 (one thread, minima of
// interleaved runs) Winograd took 46 vs 55µs at 28×28 with 16 channels, 42 vs 56µs at
// 14×14 with 32, 57 vs 68µs at 7×7 with 64, whose tiles waste a third of the GEMM's
// columns. The machine is shared, so the best of many alternating runs is compared.
func (o *convOp) pickWinograd(r *runState, in, out []*tensor.Tensor) {
	best, _ := alternate(2, winoTimingRounds, winoTimingBudget, func(way int) error {
		o.winoPick = []winoChoice{winoFaster, winoSlower}[way]
		o.forward(r, in, out)
		return nil
	})
	o.winoPick = winoSlower
	if best[0] < best[1] {
		o.winoPick = winoFaster
	}
}

// alternate times run for each of ways ways in turn, rounds times each (at least
// four, then only while budget lasts), and returns each way's best time, leaving the
// first round out (it packs filters and fills caches). It stops at run's first error.
func alternate(ways, rounds int, budget time.Duration, run func(way int) error) ([]time.Duration, error) {
	best := make([]time.Duration, ways)
	for i := range best {
		best[i] = 1<<63 - 1
	}
	start := time.Now()
	for i := range ways * rounds {
		if i >= 4*ways && time.Since(start) > budget {
			break
		}
		t0 := time.Now()
		if err := run(i % ways); err != nil {
			return nil, err
		}
		if i >= ways {
			best[i%ways] = min(best[i%ways], time.Since(t0))
		}
	}
	return best, nil
}

// winogradAllowed reports whether this run may take the Winograd route (planned, and
// allowed: inference with constant weights, the packed kernels, no sparse form);
// winoPick then says whether it does.
func (o *convOp) winogradAllowed(r *runState) bool {
	return o.winograd && r.winograd && r.constant && !r.training && !serialGemmTiles() && o.sparse == nil
}

// planWinograd decides whether inference with constant weights may run this
// convolution as Winograd's F(2×2, 3×3) (see convOp.winograd): for ungrouped 3×3
// windows of stride 1 and dilation 1 over at least winoMinChannels channels. The
// first run that may use it times both routes (pickWinograd).
func (o *convOp) planWinograd() {
	w := o.w
	o.winograd = false
	if o.group != 1 || w.kh != 3 || w.kw != 3 || w.sh != 1 || w.sw != 1 || w.dh != 1 || w.dw != 1 || o.oh < 1 || o.ow < 1 || o.c < winoMinChannels {
		return
	}
	o.wth, o.wwq = (o.oh+1)/2, (o.ow+1)/2+1
	if int64(o.c)*int64(4*(o.wth+1)*o.wwq) >= 1<<31 {
		return
	}
	o.winograd = true
}

// winogradGeometry returns the layout kernels.Winograd.Conv reads: per channel four
// phase planes of plane floats, chanStride apart, and n tiles.
func (o *convOp) winogradGeometry() (plane, chanStride, n int) {
	plane = (o.wth + 1) * o.wwq
	return plane, 4 * plane, o.wth * o.wwq
}

// winogradSizes returns the scratch winogradForward needs: the phase planes (with
// the transforms' slack) and the GEMMs' products.
func (o *convOp) winogradSizes() (pad, tmp int) {
	plane, chanStride, n := o.winogradGeometry()
	return (o.c-1)*chanStride + 3*plane + o.wwq + 1 + o.wf.Cols(n), o.wf.ScratchSize(n)
}

// winogradForward computes one sample of the convolution as Winograd F(2×2, 3×3): xs
// is its input, ys its output, res its residual (nil: none); pad and tmp are scratch
// of at least winogradSizes floats. The output transform applies the shift, the
// residual and Relu. threads caps the goroutines (the executor's WithThreads).
func (o *convOp) winogradForward(xs, ys, res, pad, tmp, shift []float32, relu bool, threads int) {
	plane, chanStride, _ := o.winogradGeometry()
	kernels.WinogradFill(pad, xs, o.c, o.h, o.wd, o.w.pt, o.w.pl, plane, o.wwq, chanStride)
	o.wf.Conv(pad, plane, o.wwq, chanStride, ys, o.oh, o.ow, shift, res, relu, tmp, threads)
}
