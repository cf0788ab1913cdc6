package models

import (
	"context"
	"fmt"
	"testing"

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
