package graph

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/abtest"
	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// convBenchShapes are the convolutions of LeNet-5 and ResNet-8 on MNIST:
// input channels, size, filters, kernel, stride, pad.
var convBenchShapes = []struct {
	name             string
	c, h, m, k, s, p int
}{
	{"lenet5.conv1", 1, 28, 20, 5, 1, 0},
	{"lenet5.conv2", 20, 12, 50, 5, 1, 0},
	{"resnet8.stem", 1, 28, 16, 3, 1, 1},
	{"resnet8.l1", 16, 28, 16, 3, 1, 1},
	{"resnet8.l2.conv1", 16, 28, 32, 3, 2, 1},
	{"resnet8.l2.conv2", 32, 14, 32, 3, 1, 1},
	{"resnet8.l2.down", 16, 28, 32, 1, 2, 0},
	{"resnet8.l3.conv1", 32, 14, 64, 3, 2, 1},
	{"resnet8.l3.down", 32, 14, 64, 1, 2, 0},
	{"resnet8.l3.conv2", 64, 7, 64, 3, 1, 1},
	// structured-kd-full, ResNet-8 pruned to 4.36× fewer MACs (bench/pruning)
	{"pruned.stem", 1, 28, 4, 3, 1, 1},
	{"fashion.stem", 1, 28, 12, 3, 1, 1}, // (the Fashion-MNIST variant's)
	{"fashion.l2.down", 12, 28, 28, 1, 2, 0},
	{"pruned.l1.conv1", 4, 28, 12, 3, 1, 1},
	{"pruned.l1.conv2", 12, 28, 4, 3, 1, 1},
	{"pruned.l2.conv1", 4, 28, 24, 3, 2, 1},
	{"pruned.l2.down", 4, 28, 24, 1, 2, 0},
	{"pruned.l2.conv2", 24, 14, 24, 3, 1, 1},
	{"pruned.l3.conv1", 24, 14, 8, 3, 2, 1},
	{"pruned.l3.conv2", 8, 7, 28, 3, 1, 1},
	{"pruned.l3.down", 24, 14, 28, 1, 2, 0},
}

// plannedConv compiles node n as a convOp and plans it for inputs of these shapes,
// returning it and its output shape; tb fails on any error.
func plannedConv(tb testing.TB, n *Node, in ...*tensor.Tensor) (*convOp, []int) {
	tb.Helper()
	op, err := newConv(n, nil)
	if err != nil {
		tb.Fatal(err)
	}
	o := op.(*convOp)
	shapes := make([][]int, len(in))
	for i, t := range in {
		shapes[i] = t.Shape
	}
	outs, err := o.infer(shapes)
	if err != nil {
		tb.Fatalf("%s: %v", n.Name, err)
	}
	return o, outs[0]
}

// benchConvNode is a square Conv node of kernel k, stride s and padding p on every
// side, with a bias input when bias is set.
func benchConvNode(k, s, p int, bias bool) *Node {
	in := []string{"x", "w"}
	if bias {
		in = append(in, "b")
	}
	return &Node{Name: "c", Op: "Conv", Inputs: in, Outputs: []string{"y"}, Attrs: map[string]Attr{
		"kernel_shape": IntsAttr(int64(k), int64(k)),
		"strides":      IntsAttr(int64(s), int64(s)),
		"pads":         IntsAttr(int64(p), int64(p), int64(p), int64(p)),
	}}
}

// BenchmarkConvForward times one Conv forward (inference) per shape at batch 1 and
// 64 on GOMAXPROCS threads.
func BenchmarkConvForward(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/batch=%d", sh.name, batch), func(b *testing.B) {
				n := benchConvNode(sh.k, sh.s, sh.p, true)
				o, err := newConv(n, nil)
				if err != nil {
					b.Fatal(err)
				}
				x, w, bias := randT(rng, batch, sh.c, sh.h, sh.h), randT(rng, sh.m, sh.c, sh.k, sh.k), randT(rng, sh.m)
				outs, err := o.infer([][]int{x.Shape, w.Shape, bias.Shape})
				if err != nil {
					b.Fatal(err)
				}
				y := tensor.New(outs[0]...)
				r := &runState{threads: runtime.GOMAXPROCS(0), ws: &workspace{}}
				in, out := []*tensor.Tensor{x, w, bias}, []*tensor.Tensor{y}
				o.forward(r, in, out)
				b.ResetTimer()
				c0 := cpuTime()
				for range b.N {
					o.forward(r, in, out)
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				b.StartTimer()
				macs := float64(batch * sh.m * sh.c * sh.k * sh.k * y.Shape[2] * y.Shape[3])
				b.ReportMetric(2*macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConvShifted times one inference Conv forward at batch 1, one thread, each
// way that planShifted and planWinograd take the shape: through the patch matrix,
// shifted and as Winograd F(2×2, 3×3).
func BenchmarkConvShifted(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		n := benchConvNode(sh.k, sh.s, sh.p, true)
		x, w, bias := randT(rng, 1, sh.c, sh.h, sh.h), randT(rng, sh.m, sh.c, sh.k, sh.k), randT(rng, sh.m)
		for _, route := range []string{"patch", "shifted", "winograd"} {
			o, outShape := plannedConv(b, n, x, w, bias)
			if route == "shifted" && !o.shifted || route == "winograd" && !o.winograd {
				continue
			}
			o.shifted = route == "shifted"
			b.Run(fmt.Sprintf("%s/%s", sh.name, route), func(b *testing.B) {
				y := tensor.New(outShape...)
				r := &runState{threads: 1, constant: true, winograd: route == "winograd", ws: &workspace{}}
				in, out := []*tensor.Tensor{x, w, bias}, []*tensor.Tensor{y}
				o.forward(r, in, out)
				for range b.N {
					o.forward(r, in, out)
				}
				macs := float64(sh.m * sh.c * sh.k * sh.k * y.Shape[2] * y.Shape[3])
				b.ReportMetric(2*macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConvGemmOnly times the conv's GEMM alone (one kernels.Gemm call, patch
// matrix prebuilt) at batch 1, to show what the executor adds around it.
func BenchmarkConvGemmOnly(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		b.Run(sh.name, func(b *testing.B) {
			w := window{kh: sh.k, kw: sh.k, sh: sh.s, sw: sh.s, dh: 1, dw: 1, pt: sh.p, pl: sh.p, pb: sh.p, pr: sh.p}
			oh, ow, _ := w.out(sh.h, sh.h)
			k, n := sh.c*sh.k*sh.k, oh*ow
			a, col, y := randT(rng, sh.m, k).Data, randT(rng, k, n).Data, make([]float32, sh.m*n)
			for range b.N {
				kernels.Gemm(false, false, sh.m, n, k, 1, a, k, col, n, 0, y, n)
			}
			b.ReportMetric(2*float64(sh.m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIm2col times the patch matrix of one sample per convolution shape, and its
// adjoint.
func BenchmarkIm2col(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		b.Run(sh.name, func(b *testing.B) {
			w := window{kh: sh.k, kw: sh.k, sh: sh.s, sw: sh.s, dh: 1, dw: 1, pt: sh.p, pl: sh.p, pb: sh.p, pr: sh.p}
			oh, ow, _ := w.out(sh.h, sh.h)
			x := randT(rng, sh.c, sh.h, sh.h).Data
			col := make([]float32, im2colSize(sh.c, sh.h, sh.h, &w, ow, oh))
			b.Run("im2col", func(b *testing.B) {
				for range b.N {
					im2col(x, sh.c, sh.h, sh.h, &w, oh, ow, col)
				}
			})
			b.Run("col2im", func(b *testing.B) {
				for range b.N {
					col2im(col, sh.c, sh.h, sh.h, &w, oh, ow, x)
				}
			})
		})
	}
}

// BenchmarkConvBackward times one Conv backward (weight and input gradients) at batch
// 64, for the input gradient as a convolution and by the adjoint (col2im) route where
// the shape allows both.
func BenchmarkConvBackward(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		n := benchConvNode(sh.k, sh.s, sh.p, false)
		o, err := newConv(n, nil)
		if err != nil {
			b.Fatal(err)
		}
		x, w := randT(rng, 64, sh.c, sh.h, sh.h), randT(rng, sh.m, sh.c, sh.k, sh.k)
		outs, err := o.infer([][]int{x.Shape, w.Shape})
		if err != nil {
			b.Fatal(err)
		}
		c := o.(*convOp)
		gy, gx, gw := randT(rng, outs[0]...), tensor.New(x.Shape...), tensor.New(w.Shape...)
		r := &runState{training: true, threads: runtime.GOMAXPROCS(0), ws: &workspace{}}
		routes := []bool{false}
		if c.gradAsConv {
			routes = []bool{true, false}
		}
		for _, asConv := range routes {
			b.Run(fmt.Sprintf("%s/asConv=%v", sh.name, asConv), func(b *testing.B) {
				c.gradAsConv = asConv
				c0 := cpuTime()
				for range b.N {
					c.backward(r, []*tensor.Tensor{x, w}, nil, []*tensor.Tensor{gy}, []*tensor.Tensor{gx, gw})
				}
				b.ReportMetric(float64((cpuTime()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkConvRoutes times ResNet-8's stride-1 3×3 convolutions at batch 1 shifted
// and as Winograd (where planWinograd takes the shape), each on 1 and 2 threads, the
// four variants in turn in every iteration (abtest): `go test ./pruning/graph -run XXX
// -bench ConvRoutes`.
func BenchmarkConvRoutes(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		if sh.k != 3 || sh.s != 1 {
			continue
		}
		b.Run(sh.name, func(b *testing.B) {
			n := benchConvNode(sh.k, sh.s, sh.p, true)
			x, w, bias := randT(rng, 1, sh.c, sh.h, sh.h), randT(rng, sh.m, sh.c, sh.k, sh.k), randT(rng, sh.m)
			var names []string
			var runs []func()
			for _, route := range []string{"shifted", "winograd"} {
				o, outShape := plannedConv(b, n, x, w, bias)
				if route == "winograd" && !o.winograd {
					break
				}
				o.shifted = o.shifted && route == "shifted"
				o.winoPick = winoFaster // (untimed: the route is forced)
				y := tensor.New(outShape...)
				in, out := []*tensor.Tensor{x, w, bias}, []*tensor.Tensor{y}
				for _, threads := range []int{1, 2} {
					names = append(names, fmt.Sprintf("%s-%dt", route, threads))
					r := &runState{threads: threads, constant: true, winograd: route == "winograd", ws: &workspace{}}
					runs = append(runs, func() {
						kernels.SetMaxThreads(threads)
						o.forward(r, in, out)
					})
				}
			}
			defer kernels.SetMaxThreads(0)
			abtest.Run(b, names, runs)
		})
	}
}
