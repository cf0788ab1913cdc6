package graph

// window is the sliding-window geometry shared by Conv and the pooling operators
// (2-D only, NCHW).
type window struct {
	kh, kw         int
	sh, sw         int
	dh, dw         int
	pt, pl, pb, pr int
	autoPad        string
	ceil           bool
}

// parseWindow reads kernel_shape (or kernel when given), strides, dilations, pads,
// auto_pad and ceil_mode.
func parseWindow(n *Node, kernel []int) (window, error) {
	w := window{sh: 1, sw: 1, dh: 1, dw: 1}
	ks := n.AttrInts("kernel_shape", nil)
	switch {
	case len(ks) == 2:
		w.kh, w.kw = int(ks[0]), int(ks[1])
	case ks == nil && kernel != nil:
		w.kh, w.kw = kernel[0], kernel[1]
	default:
		return w, errorf("kernel_shape %v: only 2-D windows are supported", ks)
	}
	if kernel != nil && (w.kh != kernel[0] || w.kw != kernel[1]) {
		return w, errorf("kernel_shape %v does not match weight kernel %v", ks, kernel)
	}
	if s := n.AttrInts("strides", nil); s != nil {
		if len(s) != 2 {
			return w, errorf("strides %v: want 2 values", s)
		}
		w.sh, w.sw = int(s[0]), int(s[1])
	}
	if d := n.AttrInts("dilations", nil); d != nil {
		if len(d) != 2 {
			return w, errorf("dilations %v: want 2 values", d)
		}
		w.dh, w.dw = int(d[0]), int(d[1])
	}
	if p := n.AttrInts("pads", nil); p != nil {
		if len(p) != 4 {
			return w, errorf("pads %v: want 4 values", p)
		}
		w.pt, w.pl, w.pb, w.pr = int(p[0]), int(p[1]), int(p[2]), int(p[3])
	}
	w.autoPad = n.AttrString("auto_pad", "NOTSET")
	switch w.autoPad {
	case "NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return w, errorf("auto_pad %q unknown", w.autoPad)
	}
	w.ceil = n.AttrInt("ceil_mode", 0) != 0
	if w.kh < 1 || w.kw < 1 || w.sh < 1 || w.sw < 1 || w.dh < 1 || w.dw < 1 || w.pt < 0 || w.pl < 0 || w.pb < 0 || w.pr < 0 {
		return w, errorf("window kernel %dx%d strides %d,%d dilations %d,%d pads %d,%d,%d,%d: want positive sizes and non-negative pads",
			w.kh, w.kw, w.sh, w.sw, w.dh, w.dw, w.pt, w.pl, w.pb, w.pr)
	}
	return w, nil
}

// out resolves auto padding for an h×w input and returns the output size.
func (w *window) out(h, wd int) (oh, ow int, err error) {
	switch w.autoPad {
	case "VALID":
		w.pt, w.pl, w.pb, w.pr = 0, 0, 0, 0
	case "SAME_UPPER", "SAME_LOWER":
		w.pt, w.pb = samePad(h, w.kh, w.sh, w.dh, w.autoPad == "SAME_UPPER")
		w.pl, w.pr = samePad(wd, w.kw, w.sw, w.dw, w.autoPad == "SAME_UPPER")
	}
	oh = outDim(h, w.kh, w.sh, w.dh, w.pt, w.pb, w.ceil)
	ow = outDim(wd, w.kw, w.sw, w.dw, w.pl, w.pr, w.ceil)
	if oh < 1 || ow < 1 {
		return 0, 0, errorf("window %dx%d (dilation %d,%d, pads %d,%d,%d,%d) does not fit input %dx%d",
			w.kh, w.kw, w.dh, w.dw, w.pt, w.pl, w.pb, w.pr, h, wd)
	}
	return oh, ow, nil
}

func samePad(in, k, s, d int, upper bool) (lo, hi int) {
	out := (in + s - 1) / s
	total := max(0, (out-1)*s+(k-1)*d+1-in)
	if upper {
		return total / 2, total - total/2
	}
	return total - total/2, total / 2
}

func outDim(in, k, s, d, p0, p1 int, ceil bool) int {
	span := in + p0 + p1 - ((k-1)*d + 1)
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/s + 1
	}
	o := (span+s-1)/s + 1
	// The last window must start inside the input or the leading padding.
	if (o-1)*s >= in+p0 {
		o--
	}
	return o
}
