package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/kernels"
)

// lenet300Layers are the weight shapes [out, in] of LeNet-300-100.
var lenet300Layers = [][2]int{{300, 784}, {100, 300}, {10, 100}}

// benchSparse times the three fully connected layers of LeNet-300-100 (bias and ReLU
// left out: they cost the same either way), dense through kernels.Gemm against CSR
// through (*kernels.CSR).MulTransB (at batch 1 kernels.MatVecT against CSR.MulVec, as
// the executor runs them), with each layer magnitude-pruned to the sparsity.
func benchSparse(ctx context.Context, w io.Writer, cfg config) error {
	chunk := 150 * time.Millisecond
	if cfg.quick {
		chunk = 40 * time.Millisecond
	}
	r := rand.New(rand.NewPCG(3, 4))
	dense := make([][]float32, len(lenet300Layers))
	for i, sh := range lenet300Layers {
		dense[i] = randSlice(r, sh[0]*sh[1])
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "batch\tsparsity\tdense\tcsr\tcsr speedup\t")
	for _, batch := range []int{1, 64} {
		acts := [][]float32{randSlice(r, batch*784)}
		for _, sh := range lenet300Layers {
			acts = append(acts, make([]float32, batch*sh[0]))
		}
		// At batch 1 the executor runs a fully connected layer through the fused
		// one-vector products (kernels.MatVecT, CSR.MulVec), from batch 4 on through
		// Gemm and MulTransB.
		runDense := func() {
			for i, sh := range lenet300Layers {
				if batch == 1 {
					kernels.MatVecT(sh[0], sh[1], acts[i], dense[i], sh[1], nil, false, acts[i+1])
					continue
				}
				kernels.Gemm(false, true, batch, sh[0], sh[1], 1, acts[i], sh[1], dense[i], sh[1], 0, acts[i+1], sh[0])
			}
		}
		for _, sparsity := range []float64{0.5, 0.8, 0.9, 0.95} {
			csr := make([]*kernels.CSR, len(lenet300Layers))
			for i, sh := range lenet300Layers {
				csr[i] = kernels.NewCSR(magnitudePrune(dense[i], sparsity), sh[0], sh[1])
			}
			runCSR := func() {
				for i, sh := range lenet300Layers {
					if batch == 1 {
						csr[i].MulVec(acts[i], nil, false, acts[i+1])
						continue
					}
					csr[i].MulTransB(batch, 1, acts[i], sh[1], 0, acts[i+1], sh[0])
				}
			}
			var sd, ss sample
			for range cfg.rounds {
				sd = append(sd, timeChunk(runDense, chunk)...)
				ss = append(ss, timeChunk(runCSR, chunk)...)
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("bench: %w", err)
				}
			}
			fmt.Fprintf(tw, "%d\t%.0f%%\t%s\t%s\t%.2f×\t\n", batch, sparsity*100, fmtDur(sd.median()), fmtDur(ss.median()), sd.median().Seconds()/ss.median().Seconds())
		}
	}
	return tw.Flush()
}

// magnitudePrune returns a copy of w with the fraction s of smallest-magnitude
// elements set to zero.
func magnitudePrune(w []float32, s float64) []float32 {
	mags := make([]float64, len(w))
	for i, v := range w {
		mags[i] = math.Abs(float64(v))
	}
	slices.Sort(mags)
	cut := int(s * float64(len(w)))
	out := slices.Clone(w)
	if cut == 0 {
		return out
	}
	thr := mags[cut-1]
	for i, v := range out {
		if math.Abs(float64(v)) <= thr {
			out[i] = 0
		}
	}
	return out
}
