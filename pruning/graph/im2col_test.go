package graph

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIm2colMatchesReference compares im2colRows with the straightforward loop over
// channels, taps and rows, on random window geometries (strides, dilations, asymmetric
// pads, odd sizes, "same" widths, stride-2 phase splitting) and row blocks.
func TestIm2colMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	cases := 0
	for cases < 400 {
		w := window{kh: 1 + rng.IntN(5), kw: 1 + rng.IntN(5), sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), dh: 1 + rng.IntN(2), dw: 1 + rng.IntN(2),
			pt: rng.IntN(3), pl: rng.IntN(3), pb: rng.IntN(3), pr: rng.IntN(3)}
		if rng.IntN(2) == 0 {
			w.sh, w.sw, w.dh, w.dw = 2, 2, 1, 1 // the phase-split path
		}
		c, h, wd := 1+rng.IntN(4), 1+rng.IntN(12), 1+rng.IntN(12)
		oh, ow, err := w.out(h, wd)
		if err != nil {
			continue
		}
		cases++
		y0 := rng.IntN(oh)
		y1 := y0 + 1 + rng.IntN(oh-y0)
		x := randT(rng, c, h, wd).Data
		k := c * w.kh * w.kw
		want := make([]float32, k*(y1-y0)*ow)
		im2colRowsRef(x, c, h, wd, &w, oh, ow, y0, y1, want)
		got := make([]float32, im2colSize(c, h, wd, &w, ow, y1-y0))
		for i := range got {
			got[i] = float32(i) // stale data must be overwritten
		}
		im2colRows(x, c, h, wd, &w, oh, ow, y0, y1, got)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("window %+v, c=%d h=%d w=%d, rows [%d, %d): col[%d] = %v, want %v", w, c, h, wd, y0, y1, i, got[i], want[i])
			}
		}
	}
}

// TestCol2imMatchesReference compares col2im with the straightforward scatter-add on
// random window geometries, adding into an image that already holds values.
func TestCol2imMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	cases := 0
	for cases < 400 {
		w := window{kh: 1 + rng.IntN(5), kw: 1 + rng.IntN(5), sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), dh: 1 + rng.IntN(2), dw: 1 + rng.IntN(2),
			pt: rng.IntN(3), pl: rng.IntN(3), pb: rng.IntN(3), pr: rng.IntN(3)}
		if rng.IntN(2) == 0 {
			w.sh, w.sw, w.dh, w.dw = 2, 2, 1, 1 // the phase path
		}
		c, h, wd := 1+rng.IntN(4), 1+rng.IntN(12), 1+rng.IntN(12)
		oh, ow, err := w.out(h, wd)
		if err != nil {
			continue
		}
		cases++
		k := c * w.kh * w.kw
		col := randT(rng, k, oh*ow).Data
		x0 := randT(rng, c, h, wd).Data
		want := append([]float32(nil), x0...)
		col2imRef(col, c, h, wd, &w, oh, ow, want)
		buf := make([]float32, im2colSize(c, h, wd, &w, ow, oh))
		for i := range buf {
			buf[i] = float32(i) // stale scratch must not leak in
		}
		copy(buf, col)
		got := append([]float32(nil), x0...)
		col2im(buf, c, h, wd, &w, oh, ow, got)
		for i := range want {
			if d := got[i] - want[i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("window %+v, c=%d h=%d w=%d: x[%d] = %v, want %v", w, c, h, wd, i, got[i], want[i])
			}
		}
	}
}

// BenchmarkIm2colRef times the reference loops on the model shapes, to compare with
// BenchmarkIm2col (im2col and col2im).
func BenchmarkIm2colRef(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range convBenchShapes {
		b.Run(fmt.Sprint(sh.name), func(b *testing.B) {
			w := window{kh: sh.k, kw: sh.k, sh: sh.s, sw: sh.s, dh: 1, dw: 1, pt: sh.p, pl: sh.p, pb: sh.p, pr: sh.p}
			oh, ow, _ := w.out(sh.h, sh.h)
			x := randT(rng, sh.c, sh.h, sh.h).Data
			col := make([]float32, sh.c*sh.k*sh.k*oh*ow)
			b.Run("im2col", func(b *testing.B) {
				for range b.N {
					im2colRowsRef(x, sh.c, sh.h, sh.h, &w, oh, ow, 0, oh, col)
				}
			})
			b.Run("col2im", func(b *testing.B) {
				for range b.N {
					col2imRef(col, sh.c, sh.h, sh.h, &w, oh, ow, x)
				}
			})
		})
	}
}

// im2colRowsRef is the straightforward im2col (the executor's before the per-tap
// rewrite), restricted to output rows [y0, y1): col is (c·kh·kw)×((y1-y0)·ow).
func im2colRowsRef(x []float32, c, h, wd int, w *window, oh, ow, y0, y1 int, col []float32) {
	// Window fields in locals: the compiler cannot keep them in registers across the
	// stores into col when they are read through w.
	kh, kw, sh, sw, dh, dw, pt, pl := w.kh, w.kw, w.sh, w.sw, w.dh, w.dw, w.pt, w.pl
	nb := (y1 - y0) * ow
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd : (ch+1)*h*wd]
		for ki := 0; ki < kh; ki++ {
			// Output rows of the block whose input row lies inside the image.
			off := ki*dh - pt
			ylo := min(y1, max(y0, (-off+sh-1)/sh))
			yhi := max(ylo, min(y1, (h-off+sh-1)/sh))
			for kj := 0; kj < kw; kj++ {
				row := col[((ch*kh+ki)*kw+kj)*nb:][:nb]
				clear(row[:(ylo-y0)*ow])
				clear(row[(yhi-y0)*ow:])
				iw0 := kj*dw - pl
				// Output columns whose input column lies inside the image.
				lo := min(ow, max(0, (-iw0+sw-1)/sw))
				hi := max(lo, min(ow, (wd-iw0+sw-1)/sw))
				if sw == 1 && sh == 1 && ow == wd && yhi > ylo && hi > lo {
					// "Same"-width stride-1 windows: the rows of the block are one
					// shifted copy of the image; then zero the columns that wrapped
					// around from the neighbouring image row.
					a, b := (ylo-y0)*ow+lo, (yhi-1-y0)*ow+hi
					src := (ylo*sh+off)*wd + iw0 + lo
					copy(row[a:b], img[src:src+b-a])
					for y := ylo - y0; y < yhi-y0; y++ {
						r := row[y*ow : (y+1)*ow]
						for x := 0; x < lo; x++ {
							r[x] = 0
						}
						for x := hi; x < ow; x++ {
							r[x] = 0
						}
					}
					continue
				}
				for y := ylo; y < yhi; y++ {
					dst := row[(y-y0)*ow : (y-y0+1)*ow]
					src := img[(y*sh+off)*wd : (y*sh+off+1)*wd]
					for x := 0; x < lo; x++ {
						dst[x] = 0
					}
					if hi <= lo {
						// (The executor's loop lacked this guard and panicked when a
						// tap's columns all fell in the padding.)
					} else if sw == 1 {
						copy(dst[lo:hi], src[iw0+lo:iw0+hi])
					} else if mid := dst[lo:hi]; len(mid) > 0 {
						// Strided gather; slicing src to the span lets the compiler
						// drop most bounds checks.
						in := src[iw0+lo*sw : iw0+(hi-1)*sw+1]
						for x, j := 0, 0; x < len(mid) && j < len(in); x, j = x+1, j+sw {
							mid[x] = in[j]
						}
					}
					for x := hi; x < ow; x++ {
						dst[x] = 0
					}
				}
			}
		}
	}
}

// col2imRef is the executor's col2im before the per-tap rewrite, the adjoint of im2col: it adds each column entry of col back into the
// image position it came from.
func col2imRef(col []float32, c, h, wd int, w *window, oh, ow int, x []float32) {
	kh, kw, sh, sw, dh, dw, pt, pl := w.kh, w.kw, w.sh, w.sw, w.dh, w.dw, w.pt, w.pl
	ohw := oh * ow
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd : (ch+1)*h*wd]
		for ki := 0; ki < kh; ki++ {
			off := ki*dh - pt
			ylo := min(oh, max(0, (-off+sh-1)/sh))
			yhi := max(ylo, min(oh, (h-off+sh-1)/sh))
			for kj := 0; kj < kw; kj++ {
				row := col[((ch*kh+ki)*kw+kj)*ohw:][:ohw]
				iw0 := kj*dw - pl
				lo := min(ow, max(0, (-iw0+sw-1)/sw))
				hi := max(lo, min(ow, (wd-iw0+sw-1)/sw))
				if hi <= lo {
					continue
				}
				for y := ylo; y < yhi; y++ {
					src := row[y*ow+lo : y*ow+hi]
					dst := img[(y*sh+off)*wd : (y*sh+off+1)*wd]
					if sw == 1 {
						d := dst[iw0+lo : iw0+hi]
						d = d[:len(src)]
						for i, v := range src {
							d[i] += v
						}
						continue
					}
					d := dst[iw0+lo*sw : iw0+(hi-1)*sw+1]
					for i, j := 0, 0; i < len(src) && j < len(d); i, j = i+1, j+sw {
						d[j] += src[i]
					}
				}
			}
		}
	}
}

// TestIm2colThreadsMatchReference checks im2colRowsT spreading a stride-1 window's
// taps over threads against the reference, on shapes large enough to split (ResNet-8's
// 3×3 layers, LeNet-5's 5×5) and row blocks.
func TestIm2colThreadsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, tc := range []struct {
		c, h, k, pad, y0, y1 int
	}{{16, 28, 3, 1, 0, 28}, {32, 14, 3, 1, 3, 11}, {20, 12, 5, 0, 0, 8}, {64, 7, 3, 1, 0, 7}} {
		w := window{kh: tc.k, kw: tc.k, sh: 1, sw: 1, dh: 1, dw: 1, pt: tc.pad, pl: tc.pad, pb: tc.pad, pr: tc.pad}
		oh, ow, err := w.out(tc.h, tc.h)
		if err != nil {
			t.Fatal(err)
		}
		x := randT(rng, tc.c, tc.h, tc.h).Data
		want := make([]float32, tc.c*tc.k*tc.k*(tc.y1-tc.y0)*ow)
		im2colRowsRef(x, tc.c, tc.h, tc.h, &w, oh, ow, tc.y0, tc.y1, want)
		for _, threads := range []int{2, 3} {
			got := make([]float32, len(want))
			for i := range got {
				got[i] = float32(i)
			}
			im2colRowsT(threads, x, tc.c, tc.h, tc.h, &w, oh, ow, tc.y0, tc.y1, got)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%+v threads=%d: col[%d] = %v, want %v", tc, threads, i, got[i], want[i])
				}
			}
		}
	}
}
