package graph

import (
	"math/rand/v2"
	"testing"
)

// TestMaxInsideInferMatchesTraining checks the inference MaxPool path against the
// arg-max path it replaces, for the 2×2 stride-2 special case and general windows.
func TestMaxInsideInferMatchesTraining(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ h, wd, k, s int }{{28, 28, 2, 2}, {24, 24, 2, 2}, {9, 7, 3, 2}, {8, 8, 3, 1}, {10, 10, 2, 1}} {
		w := window{kh: c.k, kw: c.k, sh: c.s, sw: c.s, dh: 1, dw: 1}
		oh, ow, err := w.out(c.h, c.wd)
		if err != nil {
			t.Fatal(err)
		}
		o := &poolOp{isMax: true, w: w, nc: 1, h: c.h, wd: c.wd, oh: oh, ow: ow}
		img := make([]float32, c.h*c.wd)
		for i := range img {
			img[i] = rng.Float32()*2 - 1
		}
		want, got := make([]float32, oh*ow), make([]float32, oh*ow)
		o.maxInside(img, want, make([]int32, oh*ow))
		o.maxInsideInfer(img, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: output %d = %v, want %v", c, i, got[i], want[i])
			}
		}
	}
}

// TestMaxInside2x2MatchesAny checks the branch-free 2×2 training MaxPool against the
// generic loop, values and arg-max, with ties (few distinct values) and odd sizes.
func TestMaxInside2x2MatchesAny(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, c := range []struct{ h, wd, levels int }{{28, 28, 0}, {24, 24, 3}, {9, 7, 2}, {8, 8, 0}} {
		w := window{kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1}
		oh, ow, err := w.out(c.h, c.wd)
		if err != nil {
			t.Fatal(err)
		}
		o := &poolOp{isMax: true, w: w, nc: 1, h: c.h, wd: c.wd, oh: oh, ow: ow}
		img := make([]float32, c.h*c.wd)
		for i := range img {
			img[i] = rng.Float32()*2 - 1
			if c.levels > 0 {
				img[i] = float32(rng.IntN(c.levels))
			}
		}
		want, got := make([]float32, oh*ow), make([]float32, oh*ow)
		wantArg, gotArg := make([]int32, oh*ow), make([]int32, oh*ow)
		o.maxInsideAny(img, want, wantArg)
		o.maxInside2x2(img, got, gotArg)
		for i := range want {
			if got[i] != want[i] || gotArg[i] != wantArg[i] {
				t.Fatalf("%+v: output %d = %v at %d, want %v at %d", c, i, got[i], gotArg[i], want[i], wantArg[i])
			}
		}
	}
}

// BenchmarkMaxPool2x2 compares the arg-max (training, generic and 2×2) and inference
// MaxPool paths on LeNet-5's first pooling shape (6×28×28, 2×2 stride 2).
func BenchmarkMaxPool2x2(b *testing.B) {
	const c, h = 6, 28
	w := window{kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1}
	o := &poolOp{isMax: true, w: w, nc: c, h: h, wd: h, oh: h / 2, ow: h / 2}
	rng := rand.New(rand.NewPCG(1, 2))
	img := make([]float32, c*h*h)
	for i := range img {
		img[i] = rng.Float32()
	}
	y, am := make([]float32, c*h*h/4), make([]int32, c*h*h/4)
	ohw := h * h / 4
	b.Run("argmax", func(b *testing.B) {
		for range b.N {
			for ch := range c {
				o.maxInsideAny(img[ch*h*h:(ch+1)*h*h], y[ch*ohw:(ch+1)*ohw], am[ch*ohw:(ch+1)*ohw])
			}
		}
	})
	b.Run("argmax2x2", func(b *testing.B) {
		for range b.N {
			for ch := range c {
				o.maxInside2x2(img[ch*h*h:(ch+1)*h*h], y[ch*ohw:(ch+1)*ohw], am[ch*ohw:(ch+1)*ohw])
			}
		}
	})
	b.Run("infer", func(b *testing.B) {
		for range b.N {
			for ch := range c {
				o.maxInsideInfer(img[ch*h*h:(ch+1)*h*h], y[ch*ohw:(ch+1)*ohw])
			}
		}
	})
}
