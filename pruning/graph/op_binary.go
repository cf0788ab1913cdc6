package graph

import "github.com/fleetprune/fleetprune/pruning/tensor"

func init() {
	for _, k := range []binaryKind{binAdd, binSub, binMul, binDiv} {
		register(k.String(), func(n *Node, _ *opCtx) (op, error) {
			if err := wantInputs(n, 2, 2); err != nil {
				return nil, err
			}
			return &binaryOp{kind: k}, nil
		})
	}
}

type binaryKind int

const (
	binAdd binaryKind = iota
	binSub
	binMul
	binDiv
)

func (k binaryKind) String() string { return [...]string{"Add", "Sub", "Mul", "Div"}[k] }

// binaryOp is an element-wise operator with numpy (multidirectional) broadcasting.
type binaryOp struct {
	kind binaryKind
	same bool // both inputs have the output's shape: a flat loop suffices
	// out shape and the element strides of A and B in it (0 on broadcast dims)
	shape, sa, sb []int
	idx           []int // odometer scratch
}

func (o *binaryOp) infer(in [][]int) ([][]int, error) {
	a, b := in[0], in[1]
	r := max(len(a), len(b))
	out := make([]int, r)
	o.sa, o.sb = make([]int, r), make([]int, r)
	strideA, strideB := 1, 1
	for i := r - 1; i >= 0; i-- {
		da, db := 1, 1
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, errorf("shapes %v and %v do not broadcast", a, b)
		}
		if da != 1 {
			o.sa[i] = strideA
		}
		if db != 1 {
			o.sb[i] = strideB
		}
		strideA *= da
		strideB *= db
	}
	o.shape = out
	o.same = tensor.SameShape(a, out) && tensor.SameShape(b, out)
	o.idx = make([]int, r)
	return [][]int{out}, nil
}

// each calls fn for runs of the innermost dimension: output offset, A and B offsets,
// run length and A and B steps.
func (o *binaryOp) each(fn func(oi, ai, bi, n, as, bs int)) {
	r := len(o.shape)
	if r == 0 {
		fn(0, 0, 0, 1, 0, 0)
		return
	}
	last := o.shape[r-1]
	rows := tensor.Size(o.shape[:r-1])
	idx := o.idx
	clear(idx)
	for row := 0; row < rows; row++ {
		ai, bi := 0, 0
		for d := 0; d < r-1; d++ {
			ai += idx[d] * o.sa[d]
			bi += idx[d] * o.sb[d]
		}
		fn(row*last, ai, bi, last, o.sa[r-1], o.sb[r-1])
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < o.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func (o *binaryOp) forward(r *runState, in, out []*tensor.Tensor) {
	a, b, y := in[0].Data, in[1].Data, out[0].Data
	if o.same {
		parallelRange(r.threads, len(y), func(lo, hi int) {
			a, b, y := a[lo:hi], b[lo:hi], y[lo:hi]
			switch o.kind {
			case binAdd:
				for i := range y {
					y[i] = a[i] + b[i]
				}
			case binSub:
				for i := range y {
					y[i] = a[i] - b[i]
				}
			case binMul:
				for i := range y {
					y[i] = a[i] * b[i]
				}
			case binDiv:
				for i := range y {
					y[i] = a[i] / b[i]
				}
			}
		})
		return
	}
	o.each(func(oi, ai, bi, n, as, bs int) {
		for k := 0; k < n; k++ {
			x, z := a[ai+k*as], b[bi+k*bs]
			var v float32
			switch o.kind {
			case binAdd:
				v = x + z
			case binSub:
				v = x - z
			case binMul:
				v = x * z
			case binDiv:
				v = x / z
			}
			y[oi+k] = v
		}
	})
}

// overwrites: an element-wise Add or Sub without broadcasting writes all of each
// input's gradient.
func (o *binaryOp) overwrites(i int) bool {
	return o.same && (o.kind == binAdd || o.kind == binSub) && i < 2
}

func (o *binaryOp) backward(r *runState, in, _, gOut, gIn []*tensor.Tensor) {
	a, b, gy := in[0].Data, in[1].Data, gOut[0].Data
	var ga, gb []float32
	if gIn[0] != nil {
		ga = gIn[0].Data
	}
	if gIn[1] != nil {
		gb = gIn[1].Data
	}
	if o.same && (o.kind == binAdd || o.kind == binSub) {
		// The residual connection's backward: pass the gradient straight through.
		owA, owB := r.overwrites(0), r.overwrites(1)
		parallelRange(r.threads, len(gy), func(lo, hi int) {
			if ga != nil {
				if owA {
					copy(ga[lo:hi], gy[lo:hi])
				} else {
					accumulate(ga[lo:hi], gy[lo:hi])
				}
			}
			if gb != nil {
				g := gb[lo:hi]
				switch {
				case o.kind == binAdd && owB:
					copy(g, gy[lo:hi])
				case o.kind == binAdd:
					accumulate(g, gy[lo:hi])
				case owB:
					for i, v := range gy[lo:hi] {
						g[i] = -v
					}
				default:
					for i, v := range gy[lo:hi] {
						g[i] -= v
					}
				}
			}
		})
		return
	}
	o.each(func(oi, ai, bi, n, as, bs int) {
		for k := 0; k < n; k++ {
			g := gy[oi+k]
			i, j := ai+k*as, bi+k*bs
			switch o.kind {
			case binAdd:
				if ga != nil {
					ga[i] += g
				}
				if gb != nil {
					gb[j] += g
				}
			case binSub:
				if ga != nil {
					ga[i] += g
				}
				if gb != nil {
					gb[j] -= g
				}
			case binMul:
				if ga != nil {
					ga[i] += g * b[j]
				}
				if gb != nil {
					gb[j] += g * a[i]
				}
			case binDiv:
				if ga != nil {
					ga[i] += g / b[j]
				}
				if gb != nil {
					gb[j] -= g * a[i] / (b[j] * b[j])
				}
			}
		}
	})
}
