package graph

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestShiftedConvMatchesPatchMatrix runs inference convolutions that planShifted
// takes (strides 1 to 3, dilation, asymmetric padding, ragged filter counts, batch 3,
// with and without a fused shift, residual and Relu) both shifted and through the
// patch matrix, and compares.
func TestShiftedConvMatchesPatchMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	type shape struct {
		c, h, wd, m, k, s, d int
		pads                 [4]int
	}
	shapes := []shape{
		{16, 28, 28, 16, 3, 1, 1, [4]int{1, 1, 1, 1}},
		{3, 13, 17, 6, 3, 1, 1, [4]int{1, 0, 2, 1}},
		{16, 28, 28, 32, 3, 2, 1, [4]int{1, 1, 1, 1}},
		{16, 28, 28, 32, 1, 2, 1, [4]int{0, 0, 0, 0}},
		{24, 14, 14, 28, 1, 2, 1, [4]int{0, 0, 0, 0}}, // (rows with no junk column: one gather per call)
		{3, 15, 13, 5, 1, 2, 1, [4]int{0, 0, 0, 0}},
		{5, 15, 15, 7, 3, 2, 1, [4]int{1, 1, 1, 1}},
		{2, 20, 21, 5, 3, 3, 1, [4]int{1, 2, 0, 1}},
		{4, 24, 24, 9, 3, 1, 2, [4]int{2, 2, 2, 2}},
		{1, 28, 28, 20, 5, 1, 1, [4]int{0, 0, 0, 0}},
	}
	taken := 0
	for _, sh := range shapes {
		for _, fused := range []int{0, 1, 2} { // none; shift+relu; shift+residual+relu
			name := fmt.Sprintf("%+v/fused=%d", sh, fused)
			n := &Node{Name: "c", Op: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: map[string]Attr{
				"kernel_shape": IntsAttr(int64(sh.k), int64(sh.k)),
				"strides":      IntsAttr(int64(sh.s), int64(sh.s)),
				"dilations":    IntsAttr(int64(sh.d), int64(sh.d)),
				"pads":         IntsAttr(int64(sh.pads[0]), int64(sh.pads[1]), int64(sh.pads[2]), int64(sh.pads[3])),
			}}
			const batch = 3
			x, w, bias := randT(rng, batch, sh.c, sh.h, sh.wd), randT(rng, sh.m, sh.c, sh.k, sh.k), randT(rng, sh.m)
			run := func(shifted bool) (*tensor.Tensor, bool) {
				o, outShape := plannedConv(t, n, x, w, bias)
				planned := o.shifted
				if !shifted {
					o.shifted = false
				}
				y := tensor.New(outShape...)
				if fused > 0 {
					ep := &epilogue{bn: -1, add: -1, relu: 0}
					if fused == 2 {
						ep.add = 0
						ep.residual = randT(rand.New(rand.NewPCG(7, uint64(len(y.Data)))), y.Shape...).Data
					}
					o.setEpilogue(ep)
				}
				r := &runState{threads: 2, ws: &workspace{}}
				o.forward(r, []*tensor.Tensor{x, w, bias}, []*tensor.Tensor{y})
				// Again over scratch left full of NaNs: the padding must be written,
				// not assumed zero.
				for _, b := range r.ws.bufs {
					for i := range b {
						b[i] = float32(math.NaN())
					}
				}
				o.forward(r, []*tensor.Tensor{x, w, bias}, []*tensor.Tensor{y})
				return y, planned
			}
			want, _ := run(false)
			got, planned := run(true)
			if !planned {
				continue
			}
			taken++
			for i := range want.Data {
				if d := math.Abs(float64(got.Data[i] - want.Data[i])); d > 1e-4*(1+math.Abs(float64(want.Data[i]))) {
					t.Fatalf("%s: y[%d] = %v shifted, %v by patch matrix", name, i, got.Data[i], want.Data[i])
				}
			}
		}
	}
	// (With gonum's GEMM, the purego build, inference has no packed filters and
	// never runs shifted: both runs take the patch matrix.)
	// All but the stride-3 one (72 columns computed for 56) run shifted, the 1×1
	// windows of stride 2 included.
	if !serialGemmTiles() && taken < 3*(len(shapes)-1) {
		t.Errorf("only %d of %d cases ran shifted", taken, 3*len(shapes))
	}
}
