package graph

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestPickSharing checks that a batch-1 plan of an executor with constant weights on
// two threads settles, at its first run, on sharing its convolutions' kernels or not
// (a one-thread executor, a batch of 3 and an executor without constant weights have
// nothing to time); that the timing runs leave Timings as after one run; and that
// the outputs are those of a one-thread executor, bit for bit, either way.
func TestPickSharing(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	g := New("conv", 13)
	g.Inputs = []Value{{Name: "x", Shape: []int{DynamicDim, 16, 28, 28}}}
	g.Params["w"], g.Params["b"] = randT(r, 16, 16, 3, 3), randT(r, 16)
	g.Nodes = []*Node{{Name: "conv", Op: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}, Attrs: map[string]Attr{"pads": IntsAttr(1, 1, 1, 1)}},
		{Name: "relu", Op: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}}}
	g.Outputs = []Value{{Name: "y"}}
	timed := kernels.MaxThreads() >= 2 && !serialGemmTiles()
	for _, tc := range []struct {
		threads, batch int
		constant, want bool // want: a timed choice
	}{{2, 1, true, timed}, {1, 1, true, false}, {2, 3, true, false}, {2, 1, false, false}} {
		// (Winograd off: it may be picked on one and not the other, and round apart.)
		ref, err := Compile(g, WithThreads(1), WithConstantWeights(tc.constant), WithWinograd(false))
		if err != nil {
			t.Fatal(err)
		}
		ex, err := Compile(g, WithThreads(tc.threads), WithConstantWeights(tc.constant), WithWinograd(false), WithTiming(true))
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]*tensor.Tensor{"x": randT(r, tc.batch, 16, 28, 28)}
		want, got := runBoth(t, ref, ex, in)
		if !slices.Equal(got["y"].Data, want["y"].Data) {
			t.Errorf("%+v: outputs differ from one thread's", tc)
		}
		switch p := ex.recent; {
		case tc.want && (p.shareRuns < 8 || p.sharing != shareHelpers && p.sharing != shareAlone):
			t.Errorf("%+v: %d runs timed, sharing %d after the first run, want a timed choice", tc, p.shareRuns, p.sharing)
		case !tc.want && (p.shareRuns != 0 || p.sharing != shareHelpers):
			t.Errorf("%+v: %d runs timed, sharing %d after the first run, want untimed sharing", tc, p.shareRuns, p.sharing)
		}
		for _, nt := range ex.Timings() {
			if nt.Calls != 1 {
				t.Errorf("%+v: %s timed %d times after one run", tc, nt.Node, nt.Calls)
			}
		}
	}
}
