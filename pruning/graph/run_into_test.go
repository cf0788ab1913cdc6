package graph_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// TestRunInto checks RunInto against Run on LeNet-300-100 (dense and with its layers
// run sparse) and LeNet-5: the same outputs; the caller's tensors reused while the
// batch size holds and replaced when it changes; no allocation per batch-1 run once
// they exist (with the assembly kernels; the convolutional models on one thread,
// where no goroutine is started), ResNet-8 included; and a clear error for a nil map.
func TestRunInto(t *testing.T) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		arch   string
		sparse bool
	}{{"lenet-300-100", false}, {"lenet-300-100", true}, {"lenet-5", false}, {"resnet-8", false}} {
		g, err := models.Build(tc.arch, 1)
		if err != nil {
			t.Fatal(err)
		}
		if tc.sparse {
			for _, p := range g.Params {
				if p.Rank() == 2 {
					for i := range p.Data {
						if r.IntN(10) != 0 {
							p.Data[i] = 0
						}
					}
				}
			}
		}
		ex, err := graph.Compile(g, graph.WithConstantWeights(true), graph.WithSparse(tc.sparse))
		if err != nil {
			t.Fatal(err)
		}
		if err := ex.RunInto(ctx, nil, nil); err == nil {
			t.Fatalf("%s: RunInto with a nil output map: no error", tc.arch)
		}
		out := map[string]*tensor.Tensor{}
		var kept *tensor.Tensor
		for _, batch := range []int{1, 1, 3, 3, 1} {
			x := tensor.New(batch, 1, 28, 28)
			for i := range x.Data {
				x.Data[i] = r.Float32()
			}
			in := map[string]*tensor.Tensor{models.InputName: x}
			want, err := ex.Run(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := ex.RunInto(ctx, in, out); err != nil {
				t.Fatal(err)
			}
			got, w := out[models.OutputName], want[models.OutputName]
			if !slices.Equal(got.Shape, w.Shape) || !slices.Equal(got.Data, w.Data) {
				t.Fatalf("%s batch %d: RunInto %v %v, Run %v %v", tc.arch, batch, got.Shape, got.Data, w.Shape, w.Data)
			}
			if kept != nil && (got == kept) != (kept.Shape[0] == batch) {
				t.Fatalf("%s batch %d: output tensor reused %v, kept one's batch %d", tc.arch, batch, got == kept, kept.Shape[0])
			}
			kept = got
		}
		if kernels.GonumGemm() || raceEnabled {
			continue // (gonum's sgemm, in purego builds, allocates; see raceEnabled)
		}
		if tc.arch != "lenet-300-100" {
			if ex, err = graph.Compile(g, graph.WithConstantWeights(true), graph.WithThreads(1)); err != nil {
				t.Fatal(err)
			}
		}
		in := map[string]*tensor.Tensor{models.InputName: tensor.New(1, 1, 28, 28)}
		if err := ex.RunInto(ctx, in, out); err != nil { // (the first run packs and times)
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(20, func() {
			if err := ex.RunInto(ctx, in, out); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s sparse=%v: %v allocations per RunInto", tc.arch, tc.sparse, n)
		}
	}
}
