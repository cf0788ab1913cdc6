package models

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/fleetprune/fleetprune/internal/abtest"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// BenchmarkForward measures inference latency per batch for every built-in model at
// batch 1 and 64 (ns/op is per batch; samples/s is reported too).
func BenchmarkForward(b *testing.B) {
	for _, arch := range Archs() {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", arch, batch), func(b *testing.B) {
				g, err := Build(arch, 1)
				if err != nil {
					b.Fatal(err)
				}
				ex, err := graph.Compile(g)
				if err != nil {
					b.Fatal(err)
				}
				in := map[string]*tensor.Tensor{InputName: randInput(1, batch)}
				ctx := context.Background()
				if _, err := ex.Run(ctx, in); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, err := ex.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

// BenchmarkTrainStep measures one forward, loss, backward and SGD-style update at
// batch 64.
func BenchmarkTrainStep(b *testing.B) {
	for _, arch := range Archs() {
		b.Run(arch+"/batch=64", func(b *testing.B) {
			g, err := Build(arch, 1)
			if err != nil {
				b.Fatal(err)
			}
			ex, err := graph.Compile(g, graph.WithTraining(true))
			if err != nil {
				b.Fatal(err)
			}
			in := map[string]*tensor.Tensor{InputName: randInput(1, 64)}
			labels := make([]int, 64)
			for i := range labels {
				labels[i] = i % 10
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out, err := ex.Forward(ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				_, grad := graph.SoftmaxCrossEntropy(out[OutputName], labels)
				if err := ex.Backward(ctx, map[string]*tensor.Tensor{OutputName: grad}); err != nil {
					b.Fatal(err)
				}
				for name, gr := range ex.Grads() {
					w := g.Params[name].Data
					for j, v := range gr.Data {
						w[j] -= 1e-4 * v
					}
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}

// BenchmarkResNet8Winograd times ResNet-8's batch-1 inference with Winograd off and
// on (graph.WithWinograd), both executors with constant weights, in turn in every
// iteration (abtest), on 1 and 2 threads, after checking that the two agree within
// 1e-4: `go test ./pruning/models -run XXX -bench ResNet8Winograd`.
func BenchmarkResNet8Winograd(b *testing.B) {
	g, err := Build("resnet-8", 1)
	if err != nil {
		b.Fatal(err)
	}
	in := map[string]*tensor.Tensor{InputName: randInput(1, 1)}
	ctx := context.Background()
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var runs []func()
			var outs [2][]float32
			for i := range 2 {
				ex, err := graph.Compile(g, graph.WithThreads(threads), graph.WithConstantWeights(true), graph.WithWinograd(i == 1))
				if err != nil {
					b.Fatal(err)
				}
				out := map[string]*tensor.Tensor{}
				if err := ex.RunInto(ctx, in, out); err != nil {
					b.Fatal(err)
				}
				outs[i] = out[g.Outputs[0].Name].Data
				runs = append(runs, func() {
					if err := ex.RunInto(ctx, in, out); err != nil {
						b.Fatal(err)
					}
				})
			}
			for j := range outs[0] {
				if d := math.Abs(float64(outs[0][j] - outs[1][j])); d > 1e-4 {
					b.Fatalf("output %d: %v with Winograd, %v without", j, outs[1][j], outs[0][j])
				}
			}
			abtest.Run(b, []string{"off", "on"}, runs)
		})
	}
}
