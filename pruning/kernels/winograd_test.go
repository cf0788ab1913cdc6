package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// winoLayout is the geometry of a Winograd.Conv input for a c×h×w image with padding
// pt, pl (and whatever padding below and right makes an oh×ow output).
type winoLayout struct {
	th, wq, plane, chanStride, n int
}

func newWinoLayout(c, oh, ow int) winoLayout {
	th, tw := (oh+1)/2, (ow+1)/2
	l := winoLayout{th: th, wq: tw + 1, plane: (th + 1) * (tw + 1)}
	l.chanStride, l.n = 4*l.plane, th*l.wq
	return l
}

// winoInputPlanes lays the image x (c×h×w) out as Winograd.Conv reads it, padded by
// pt above and pl left, zeros elsewhere, with slack for cols tile columns.
func winoInputPlanes(l winoLayout, x []float32, c, h, w, pt, pl, cols int) []float32 {
	src := make([]float32, (c-1)*l.chanStride+max(4*l.plane, 3*l.plane+l.wq+1+cols))
	for ch := range c {
		for y := range h {
			for xx := range w {
				yp, xp := y+pt, xx+pl
				src[ch*l.chanStride+(2*(yp%2)+xp%2)*l.plane+yp/2*l.wq+xp/2] = x[(ch*h+y)*w+xx]
			}
		}
	}
	return src
}

// directConv3x3 is the reference: a 3×3 stride-1 convolution of x (c×h×w) with
// padding pt, pl to an oh×ow output, filter k scaled by scale[k], plus shift, Relu.
func directConv3x3(x, wt []float32, k, c, h, w, pt, pl, oh, ow int, scale, shift []float32, relu bool) []float32 {
	y := make([]float32, k*oh*ow)
	for f := range k {
		for oy := range oh {
			for ox := range ow {
				var s float64
				for ch := range c {
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := oy+ky-pt, ox+kx-pl
							if iy < 0 || iy >= h || ix < 0 || ix >= w {
								continue
							}
							s += float64(x[(ch*h+iy)*w+ix]) * float64(wt[((f*c+ch)*3+ky)*3+kx])
						}
					}
				}
				if scale != nil {
					s *= float64(scale[f])
				}
				if shift != nil {
					s += float64(shift[f])
				}
				if relu {
					s = max(s, 0)
				}
				y[(f*oh+oy)*ow+ox] = float32(s)
			}
		}
	}
	return y
}

func TestWinogradConv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct{ k, c, h, w, p int }{
		{16, 16, 28, 28, 1}, {32, 32, 14, 14, 1}, {64, 64, 7, 7, 1}, {28, 12, 14, 14, 1}, {12, 24, 14, 14, 1}, // (28, 12: a 4×8 tile in the 8-wide edge)
		{8, 3, 5, 7, 1}, {5, 2, 7, 5, 0}, {6, 4, 9, 9, 0}, {4, 300, 6, 6, 1}, {1, 1, 3, 3, 0}, {3, 2, 4, 40, 1},
	}
	for _, tc := range cases {
		for _, ep := range []struct{ scale, shift, res, relu bool }{{false, false, false, false}, {true, true, false, true}, {false, true, true, true}, {true, false, true, false}} {
			for _, threads := range []int{1, 2} {
				name := fmt.Sprintf("k%d_c%d_%dx%d_p%d/scale=%v_shift=%v_res=%v_relu=%v/threads=%d", tc.k, tc.c, tc.h, tc.w, tc.p, ep.scale, ep.shift, ep.res, ep.relu, threads)
				t.Run(name, func(t *testing.T) {
					oh, ow := tc.h+2*tc.p-2, tc.w+2*tc.p-2
					x, wt := randSlice(r, tc.c*tc.h*tc.w), randSlice(r, tc.k*tc.c*9)
					var scale, shift, res []float32
					if ep.scale {
						scale = randSlice(r, tc.k)
					}
					if ep.shift {
						shift = randSlice(r, tc.k)
					}
					if ep.res {
						res = randSlice(r, tc.k*oh*ow)
					}
					wf := PackWinograd(nil, tc.k, tc.c, wt, scale)
					l := newWinoLayout(tc.c, oh, ow)
					end := wf.Cols(l.n)
					if end < l.n || end%8 != 0 {
						t.Fatalf("Cols(%d) = %d", l.n, end)
					}
					src := winoInputPlanes(l, x, tc.c, tc.h, tc.w, tc.p, tc.p, end)
					n := tc.k * oh * ow
					y := randSlice(r, n+8)
					guard := slices.Clone(y[n:])
					SetMaxThreads(threads)
					defer SetMaxThreads(0)
					wf.Conv(src, l.plane, l.wq, l.chanStride, y[:n], oh, ow, shift, res, ep.relu, randSlice(r, wf.ScratchSize(l.n)), 0)
					if !slices.Equal(y[n:], guard) {
						t.Fatal("Conv wrote past the output")
					}
					want := directConv3x3(x, wt, tc.k, tc.c, tc.h, tc.w, tc.p, tc.p, oh, ow, scale, shift, false)
					for i := range want {
						if res != nil {
							want[i] += res[i]
						}
						if ep.relu {
							want[i] = max(want[i], 0)
						}
					}
					checkRel(t, y[:n], want, 1e-4)
				})
			}
		}
	}
}

// checkRel fails unless every got[i] is within tol of want[i], relative to the
// largest |want| (at least 1).
func checkRel(t *testing.T, got, want []float32, tol float64) {
	t.Helper()
	scale := 1.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol*scale) {
			t.Fatalf("element %d: got %v, want %v (|diff| %.3g > %.3g)", i, got[i], want[i], d, tol*scale)
		}
	}
}

// TestWinogradTransformsMatchGeneric checks the transforms of this build (assembly
// on amd64) against the Go loops, bit for bit.
func TestWinogradTransformsMatchGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, sh := range []struct{ c, cols, ldv int }{{1, 8, 8}, {3, 16, 24}, {16, 48, 48}, {5, 24, 40}} {
		t.Run(fmt.Sprintf("c%d_cols%d", sh.c, sh.cols), func(t *testing.T) {
			plane, wq := 37, 9
			chanStride := 4*plane + 3
			src := randSlice(r, (sh.c-1)*chanStride+3*plane+wq+1+sh.cols)
			got, want := randSlice(r, 16*sh.c*sh.ldv), make([]float32, 16*sh.c*sh.ldv)
			copy(want, got)
			winoInput(src, plane, wq, chanStride, sh.c, sh.cols, got, sh.c*sh.ldv, sh.ldv)
			winoInputGeneric(src, plane, wq, chanStride, sh.c, sh.cols, want, sh.c*sh.ldv, sh.ldv)
			if !slices.Equal(got, want) {
				t.Fatalf("input transform differs from winoInputGeneric")
			}
		})
	}
	// The output transform, straight into outputs of wide, short and odd rows.
	for _, sh := range []struct{ k, oh, ow int }{{16, 28, 28}, {32, 14, 14}, {4, 7, 7}, {3, 5, 7}, {2, 9, 6}, {5, 3, 40}, {1, 1, 5}} {
		for _, res := range []bool{false, true} {
			for _, relu := range []bool{false, true} {
				t.Run(fmt.Sprintf("out_%dx%dx%d/res=%v/relu=%v", sh.k, sh.oh, sh.ow, res, relu), func(t *testing.T) {
					th, wq := (sh.oh+1)/2, (sh.ow+1)/2+3
					ldk := th*wq + 16
					ldx := sh.k*ldk + 5
					m := randSlice(r, 16*ldx)
					shift := randSlice(r, sh.k)
					var rs []float32
					if res {
						rs = randSlice(r, sh.k*sh.oh*sh.ow)
					}
					n := sh.k * sh.oh * sh.ow
					got, want := randSlice(r, n+8), make([]float32, n+8)
					copy(want, got)
					winoOutRows(m, ldx, ldk, sh.k, th, wq, sh.oh, sh.ow, shift, got[:n], rs, relu)
					winoOutRowsGeneric(m, ldx, ldk, sh.k, th, wq, sh.oh, sh.ow, shift, want[:n], rs, relu)
					if !slices.Equal(got, want) {
						for i := range got {
							if got[i] != want[i] {
								t.Fatalf("y[%d] = %v, want %v (%d outputs)", i, got[i], want[i], n)
							}
						}
					}
				})
			}
		}
	}
}

func TestWinogradConvPanicsOnShortSlices(t *testing.T) {
	wf := PackWinograd(nil, 4, 2, make([]float32, 4*2*9), nil)
	l := newWinoLayout(2, 6, 6)
	end := wf.Cols(l.n)
	src := make([]float32, (2-1)*l.chanStride+max(4*l.plane, 3*l.plane+l.wq+1+end))
	y := make([]float32, 4*6*6)
	m := make([]float32, wf.ScratchSize(l.n))
	for _, tc := range []struct {
		name      string
		src, y, m []float32
	}{{"short input", src[:len(src)-1-max(0, 4*l.plane-(3*l.plane+l.wq+1+end))], y, m}, {"short output", src, y[:len(y)-1], m}, {"short scratch", src, y, m[:len(m)-1]}} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			wf.Conv(tc.src, l.plane, l.wq, l.chanStride, tc.y, 6, 6, nil, nil, false, tc.m, 0)
		})
	}
}

// BenchmarkWinogradConv times Winograd.Conv alone (no padding copy, no output
// gather) on ResNet-8's stride-1 3×3 shapes, one thread.
func BenchmarkWinogradConv(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, sh := range []struct {
		name    string
		k, c, h int
	}{{"l1", 16, 16, 28}, {"l2", 32, 32, 14}, {"l3", 64, 64, 7}} {
		b.Run(sh.name, func(b *testing.B) {
			SetMaxThreads(1)
			defer SetMaxThreads(0)
			wf := PackWinograd(nil, sh.k, sh.c, randSlice(r, sh.k*sh.c*9), nil)
			l := newWinoLayout(sh.c, sh.h, sh.h)
			end := wf.Cols(l.n)
			src := winoInputPlanes(l, randSlice(r, sh.c*sh.h*sh.h), sh.c, sh.h, sh.h, 1, 1, end)
			y, m := make([]float32, sh.k*sh.h*sh.h), make([]float32, wf.ScratchSize(l.n))
			shift := randSlice(r, sh.k)
			for range b.N {
				wf.Conv(src, l.plane, l.wq, l.chanStride, y, sh.h, sh.h, shift, nil, true, m, 0)
			}
			macs := float64(sh.k * sh.c * 9 * sh.h * sh.h)
			b.ReportMetric(2*macs*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestWinogradFill checks WinogradFill (assembly on amd64) against the test's own
// layout, over row lengths that take each of its paths.
func TestWinogradFill(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, sh := range []struct{ c, h, w, pt, pl int }{{16, 28, 28, 1, 1}, {32, 14, 14, 1, 1}, {64, 7, 7, 1, 1}, {3, 5, 7, 0, 0}, {2, 9, 17, 2, 1}, {2, 4, 3, 1, 2}, {1, 3, 1, 1, 1}, {2, 6, 24, 0, 1}} {
		t.Run(fmt.Sprintf("%+v", sh), func(t *testing.T) {
			oh, ow := sh.h+2*sh.pt-2, sh.w+2*sh.pl-2
			l := newWinoLayout(sh.c, max(oh, 1), max(ow, 1))
			x := randSlice(r, sh.c*sh.h*sh.w)
			want := winoInputPlanes(l, x, sh.c, sh.h, sh.w, sh.pt, sh.pl, 0)
			got := randSlice(r, len(want))
			WinogradFill(got, x, sh.c, sh.h, sh.w, sh.pt, sh.pl, l.plane, l.wq, l.chanStride)
			n := (sh.c-1)*l.chanStride + 4*l.plane
			if !slices.Equal(got[:n], want[:n]) {
				for i := range n {
					if got[i] != want[i] {
						t.Fatalf("dst[%d] = %v, want %v", i, got[i], want[i])
					}
				}
			}
		})
	}
}
