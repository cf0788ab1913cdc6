package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// gemmShape is one GEMM of the built-in models (per image for im2col convolutions).
type gemmShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

var gemmShapes = []gemmShape{
	{"lenet300 fc1 b1", false, true, 1, 300, 784},
	{"lenet300 fc1 b64", false, true, 64, 300, 784},
	{"lenet300 fc2 b64", false, true, 64, 100, 300},
	{"lenet300 fc1 dW", true, false, 300, 784, 64},
	{"lenet300 fc1 dX", false, false, 64, 784, 300},
	{"lenet5 conv1", false, false, 20, 576, 25},
	{"lenet5 conv2", false, false, 50, 64, 500},
	{"lenet5 fc1 b64", false, true, 64, 500, 800},
	{"resnet8 conv 16ch", false, false, 16, 784, 144},
	{"resnet8 conv 32ch", false, false, 32, 196, 288},
	{"resnet8 conv 64ch", false, false, 64, 49, 576},
	{"square 256", false, false, 256, 256, 256},
}

// benchGemm times kernels.Gemm against gonum's sgemm called directly, interleaved.
func benchGemm(ctx context.Context, w io.Writer, cfg config) error {
	rounds := cfg.rounds
	chunk := 100 * time.Millisecond
	if cfg.quick {
		chunk = 30 * time.Millisecond
	}
	r := rand.New(rand.NewPCG(1, 2))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "shape\tm×n×k\tours GFLOP/s\tgonum GFLOP/s\tours vs gonum\t")
	for _, s := range gemmShapes {
		a := randSlice(r, s.m*s.k)
		b := randSlice(r, s.k*s.n)
		c := make([]float32, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		ta, tb := blas.NoTrans, blas.NoTrans
		if s.transA {
			ta = blas.Trans
		}
		if s.transB {
			tb = blas.Trans
		}
		ours := func() { kernels.Gemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) }
		ref := func() { gonum.Implementation{}.Sgemm(ta, tb, s.m, s.n, s.k, 1, a, lda, b, ldb, 0, c, s.n) }
		var so, sg sample
		for range rounds {
			so = append(so, timeChunk(ours, chunk)...)
			sg = append(sg, timeChunk(ref, chunk)...)
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
		flop := 2 * float64(s.m*s.n*s.k)
		fmt.Fprintf(tw, "%s\t%d×%d×%d\t%.1f\t%.1f\t%.2f×\t\n", s.name, s.m, s.n, s.k,
			flop/so.median().Seconds()/1e9, flop/sg.median().Seconds()/1e9, sg.median().Seconds()/so.median().Seconds())
	}
	return tw.Flush()
}

// timeChunk runs f a few times to warm up, then repeatedly for about d, and returns
// the per-call durations (calls are batched so that each timing spans ≥ 20µs).
func timeChunk(f func(), d time.Duration) sample {
	t0 := time.Now()
	f()
	f()
	one := max(time.Since(t0)/2, time.Nanosecond)
	per := int(max(20*time.Microsecond/one, 1))
	var s sample
	end := time.Now().Add(d)
	for len(s) < 3 || time.Now().Before(end) {
		t := time.Now()
		for range per {
			f()
		}
		s = append(s, time.Since(t)/time.Duration(per))
	}
	return s
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}
