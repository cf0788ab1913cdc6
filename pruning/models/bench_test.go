package models

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"time"

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

// TestResNet8WinogradInterleaved prints ResNet-8's batch-1 inference time with
// Winograd on and off (graph.WithWinograd), both executors with constant weights,
// timed in alternating chunks in one process on 1 and 2 threads (the machine is
// shared: separate runs swing 1.5-2×), as the minimum and median over the chunks, and
// checks that the two agree within 1e-4. Set FLEETPRUNE_WINO_AB=1 to run it.
func TestResNet8WinogradInterleaved(t *testing.T) {
	if os.Getenv("FLEETPRUNE_WINO_AB") == "" {
		t.Skip("set FLEETPRUNE_WINO_AB=1 to time ResNet-8 with and without Winograd")
	}
	g, err := Build("resnet-8", 1)
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]*tensor.Tensor{InputName: randInput(1, 1)}
	ctx := context.Background()
	for _, threads := range []int{1, 2} {
		var ex [2]*graph.Executor
		var outs [2][]float32
		for i := range ex {
			ex[i], err = graph.Compile(g, graph.WithThreads(threads), graph.WithConstantWeights(true), graph.WithWinograd(i == 1))
			if err != nil {
				t.Fatal(err)
			}
			out, err := ex[i].Run(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = out[g.Outputs[0].Name].Data
		}
		for j := range outs[0] {
			if d := math.Abs(float64(outs[0][j] - outs[1][j])); d > 1e-4 {
				t.Fatalf("output %d: %v with Winograd, %v without", j, outs[1][j], outs[0][j])
			}
		}
		const rounds, chunk = 10, 400
		var times [2][]float64
		for range rounds {
			for i, e := range ex {
				t0 := time.Now()
				for range chunk {
					if _, err := e.Run(ctx, in); err != nil {
						t.Fatal(err)
					}
				}
				times[i] = append(times[i], float64(time.Since(t0).Nanoseconds())/1e3/chunk)
			}
		}
		for i, name := range []string{"off", "on"} {
			slices.Sort(times[i])
			t.Logf("threads %d, Winograd %-3s: min %.1fµs median %.1fµs", threads, name, times[i][0], times[i][rounds/2])
		}
	}
}
