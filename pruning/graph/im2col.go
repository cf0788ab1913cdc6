package graph

// im2col unrolls the c×h×w image x into col, a (c·kh·kw)×(oh·ow) matrix whose column j
// holds the input patch under output position j (zeros in the padding).
func im2col(x []float32, c, h, wd int, w *window, oh, ow int, col []float32) {
	im2colRows(x, c, h, wd, w, oh, ow, 0, oh, col)
}

// im2colRows is im2col restricted to output rows [y0, y1): col is (c·kh·kw)×((y1-y0)·ow).
func im2colRows(x []float32, c, h, wd int, w *window, oh, ow, y0, y1 int, col []float32) {
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
					if sw == 1 {
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

// col2im is the adjoint of im2col: it adds each column entry of col back into the
// image position it came from.
func col2im(col []float32, c, h, wd int, w *window, oh, ow int, x []float32) {
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
