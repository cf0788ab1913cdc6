package graph

// maxInsideInfer is maxInside for inference: it keeps no arg-max, and takes the
// maximum branch-free, so its speed does not depend on the data. Like ONNX Runtime
// and PyTorch, a NaN in a window gives NaN.
func (o *poolOp) maxInsideInfer(img, y []float32) {
	w := &o.w
	kh, kw, sh, sw, wd, ow := w.kh, w.kw, w.sh, w.sw, o.wd, o.ow
	if kh == 2 && kw == 2 && sw == 2 {
		// The common 2×2 stride-2 window: two input rows per output row.
		for yy := 0; yy < o.oh; yy++ {
			r0 := img[yy*sh*wd:][:2*ow]
			r1 := img[(yy*sh+1)*wd:][:2*ow]
			dst := y[yy*ow : (yy+1)*ow]
			for xx := range dst {
				a := max(r0[2*xx], r0[2*xx+1])
				b := max(r1[2*xx], r1[2*xx+1])
				dst[xx] = max(a, b)
			}
		}
		return
	}
	for yy := 0; yy < o.oh; yy++ {
		dst := y[yy*ow : (yy+1)*ow]
		for xx := range dst {
			base := yy*sh*wd + xx*sw
			best := img[base]
			for i := 0; i < kh; i++ {
				for _, v := range img[base+i*wd : base+i*wd+kw] {
					best = max(best, v)
				}
			}
			dst[xx] = best
		}
	}
}
