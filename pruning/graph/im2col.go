package graph

// im2col unrolls the c×h×w image x into col, a (c·kh·kw)×(oh·ow) matrix whose column j
// holds the input patch under output position j (zeros in the padding).
func im2col(x []float32, c, h, wd int, w *window, oh, ow int, col []float32) {
	ohw := oh * ow
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd : (ch+1)*h*wd]
		for ki := 0; ki < w.kh; ki++ {
			for kj := 0; kj < w.kw; kj++ {
				row := col[((ch*w.kh+ki)*w.kw+kj)*ohw:][:ohw]
				for y := 0; y < oh; y++ {
					dst := row[y*ow : (y+1)*ow]
					ih := y*w.sh - w.pt + ki*w.dh
					if ih < 0 || ih >= h {
						clear(dst)
						continue
					}
					src := img[ih*wd : (ih+1)*wd]
					iw0 := -w.pl + kj*w.dw
					if w.sw == 1 {
						// Contiguous run: zero the edges, copy the middle.
						lo := max(0, -iw0)
						hi := min(ow, wd-iw0)
						if hi <= lo {
							clear(dst)
							continue
						}
						clear(dst[:lo])
						copy(dst[lo:hi], src[iw0+lo:iw0+hi])
						clear(dst[hi:])
						continue
					}
					for x := range dst {
						iw := iw0 + x*w.sw
						if iw >= 0 && iw < wd {
							dst[x] = src[iw]
						} else {
							dst[x] = 0
						}
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: it adds each column entry of col back into the
// image position it came from.
func col2im(col []float32, c, h, wd int, w *window, oh, ow int, x []float32) {
	ohw := oh * ow
	for ch := 0; ch < c; ch++ {
		img := x[ch*h*wd : (ch+1)*h*wd]
		for ki := 0; ki < w.kh; ki++ {
			for kj := 0; kj < w.kw; kj++ {
				row := col[((ch*w.kh+ki)*w.kw+kj)*ohw:][:ohw]
				for y := 0; y < oh; y++ {
					ih := y*w.sh - w.pt + ki*w.dh
					if ih < 0 || ih >= h {
						continue
					}
					src := row[y*ow : (y+1)*ow]
					dst := img[ih*wd : (ih+1)*wd]
					iw0 := -w.pl + kj*w.dw
					for x, v := range src {
						iw := iw0 + x*w.sw
						if iw >= 0 && iw < wd {
							dst[iw] += v
						}
					}
				}
			}
		}
	}
}
