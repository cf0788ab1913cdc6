package graph

import (
	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() {
	register("Gemm", newGemm)
	register("MatMul", func(n *Node, _ *opCtx) (op, error) {
		if err := wantInputs(n, 2, 2); err != nil {
			return nil, err
		}
		return &matMulOp{}, nil
	})
}

// gemmOp is ONNX Gemm: Y = alpha·op(A)·op(B) + beta·C, with C broadcast to (M, N).
type gemmOp struct {
	alpha, beta    float32
	transA, transB bool
	m, n, k        int
	hasC           bool
	cm, cn         int // C's extent along M and N (1 when broadcast)
	sparse         sparseForm
	ep             *epilogue // fused Relu (inference only)
}

func (o *gemmOp) setEpilogue(ep *epilogue) { o.ep = ep }

// finish applies the fused Relu.
func (o *gemmOp) finish(r *runState, y []float32) {
	if o.ep != nil && !r.training {
		o.ep.applyRow(0, y)
	}
}

func newGemm(n *Node, _ *opCtx) (op, error) {
	if err := wantInputs(n, 2, 3); err != nil {
		return nil, err
	}
	return &gemmOp{
		alpha:  n.AttrFloat("alpha", 1),
		beta:   n.AttrFloat("beta", 1),
		transA: n.AttrInt("transA", 0) != 0,
		transB: n.AttrInt("transB", 0) != 0,
		hasC:   len(n.Inputs) > 2 && n.Inputs[2] != "",
	}, nil
}

func (o *gemmOp) infer(in [][]int) ([][]int, error) {
	a, b := in[0], in[1]
	if len(a) != 2 || len(b) != 2 {
		return nil, errorf("A %v and B %v must be 2-D", a, b)
	}
	o.m, o.k = a[0], a[1]
	if o.transA {
		o.m, o.k = a[1], a[0]
	}
	kb, nb := b[0], b[1]
	if o.transB {
		kb, nb = b[1], b[0]
	}
	if kb != o.k {
		return nil, errorf("inner dimensions differ: A %v, B %v (transA=%v, transB=%v)", a, b, o.transA, o.transB)
	}
	o.n = nb
	if o.hasC {
		c := in[2]
		if len(c) > 2 {
			return nil, errorf("C %v has rank > 2", c)
		}
		o.cm, o.cn = 1, 1
		switch len(c) {
		case 1:
			o.cn = c[0]
		case 2:
			o.cm, o.cn = c[0], c[1]
		}
		if (o.cm != 1 && o.cm != o.m) || (o.cn != 1 && o.cn != o.n) {
			return nil, errorf("C %v does not broadcast to (%d, %d)", c, o.m, o.n)
		}
	}
	return [][]int{{o.m, o.n}}, nil
}

func (o *gemmOp) lda() int {
	if o.transA {
		return o.m
	}
	return o.k
}

func (o *gemmOp) ldb() int {
	if o.transB {
		return o.k
	}
	return o.n
}

func (o *gemmOp) forward(r *runState, in, out []*tensor.Tensor) {
	y := out[0].Data
	if o.forwardVec(r, in, y) {
		return
	}
	beta := float32(0)
	if o.hasC && o.beta != 0 {
		c := in[2].Data
		for i := 0; i < o.m; i++ {
			row := y[i*o.n : (i+1)*o.n]
			ci := 0
			if o.cm != 1 {
				ci = i * o.cn
			}
			if o.cn == 1 {
				for j := range row {
					row[j] = o.beta * c[ci]
				}
			} else {
				for j := range row {
					row[j] = o.beta * c[ci+j]
				}
			}
		}
		beta = 1
	}
	if o.sparse != nil && !r.training {
		o.sparse[0].MulTransB(o.m, o.alpha, in[0].Data, o.k, beta, y, o.n)
	} else {
		kernels.Gemm(o.transA, o.transB, o.m, o.n, o.k, o.alpha, in[0].Data, o.lda(), in[1].Data, o.ldb(), beta, y, o.n)
	}
	o.finish(r, y)
}

// forwardVec runs the few-sample forward of a fully connected layer (x·Wᵀ + b, W as
// [out, in], dense or in CSR form) as one fused product per sample, bias and Relu
// included, and reports whether it did: not for other layouts, an alpha other than 1,
// a C that is not one bias per output, or a batch above kernels' few-row limit.
func (o *gemmOp) forwardVec(r *runState, in []*tensor.Tensor, y []float32) bool {
	sparse := o.sparse != nil && !r.training
	if o.transA || (!o.transB && !sparse) || o.alpha != 1 || o.m > gemvMaxRows {
		return false
	}
	if o.ep != nil && (o.ep.bn >= 0 || o.ep.add >= 0) {
		return false
	}
	var bias []float32
	if o.hasC && o.beta != 0 {
		if o.beta != 1 || o.cm != 1 || o.cn != o.n {
			return false
		}
		bias = in[2].Data
	}
	relu := o.ep != nil && o.ep.relu >= 0 && !r.training
	x, w := in[0].Data, in[1].Data
	for i := range o.m {
		xi, yi := x[i*o.k:(i+1)*o.k], y[i*o.n:(i+1)*o.n]
		if sparse {
			o.sparse[0].MulVec(xi, bias, relu, yi)
		} else {
			kernels.MatVecT(o.n, o.k, xi, w, o.k, bias, relu, yi)
		}
	}
	return true
}

// gemvMaxRows is the batch up to which a fully connected forward runs sample by sample
// (kernels.Gemm's own threshold for skipping its packing).
const gemvMaxRows = 3

func (o *gemmOp) buildSparse(w *tensor.Tensor) sparseForm {
	if o.transA {
		return nil
	}
	if o.transB {
		return sparseForm{kernels.NewCSR(w.Data, o.n, o.k)}
	}
	return sparseForm{kernels.NewCSR(transpose(w.Data, o.k, o.n), o.n, o.k)}
}

func (o *gemmOp) setSparse(f sparseForm) { o.sparse = f }

// transpose returns the c×r transpose of the row-major r×c matrix a.
func transpose(a []float32, r, c int) []float32 {
	t := make([]float32, r*c)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			t[j*r+i] = a[i*c+j]
		}
	}
	return t
}

func (o *gemmOp) backward(_ *runState, in, _, gOut, gIn []*tensor.Tensor) {
	gy := gOut[0].Data
	m, n, k, al := o.m, o.n, o.k, o.alpha
	a, b := in[0].Data, in[1].Data
	if g := gIn[0]; g != nil {
		switch {
		case !o.transA && !o.transB:
			kernels.Gemm(false, true, m, k, n, al, gy, n, b, n, 1, g.Data, k)
		case !o.transA && o.transB:
			kernels.Gemm(false, false, m, k, n, al, gy, n, b, k, 1, g.Data, k)
		case o.transA && !o.transB:
			kernels.Gemm(false, true, k, m, n, al, b, n, gy, n, 1, g.Data, m)
		default:
			kernels.Gemm(true, true, k, m, n, al, b, k, gy, n, 1, g.Data, m)
		}
	}
	if g := gIn[1]; g != nil {
		switch {
		case !o.transB && !o.transA:
			kernels.Gemm(true, false, k, n, m, al, a, k, gy, n, 1, g.Data, n)
		case !o.transB && o.transA:
			kernels.Gemm(false, false, k, n, m, al, a, m, gy, n, 1, g.Data, n)
		case o.transB && !o.transA:
			kernels.Gemm(true, false, n, k, m, al, gy, n, a, k, 1, g.Data, k)
		default:
			kernels.Gemm(true, true, n, k, m, al, gy, n, a, m, 1, g.Data, k)
		}
	}
	if o.hasC && len(gIn) > 2 && gIn[2] != nil {
		gc := gIn[2].Data
		for i := 0; i < m; i++ {
			ci := 0
			if o.cm != 1 {
				ci = i * o.cn
			}
			row := gy[i*n : (i+1)*n]
			if o.cn == 1 {
				var s float32
				for _, v := range row {
					s += v
				}
				gc[ci] += o.beta * s
			} else {
				for j, v := range row {
					gc[ci+j] += o.beta * v
				}
			}
		}
	}
}

// matMulOp is ONNX MatMul for A (..., M, K) times B (K, N), or batched A and B with
// equal leading dimensions. A rank-1 A or B is promoted as in numpy.
type matMulOp struct {
	batch, m, n, k int
	sharedB        bool // B is one (K, N) matrix for every batch entry
	sparse         sparseForm
}

func (o *matMulOp) infer(in [][]int) ([][]int, error) {
	a, b := in[0], in[1]
	if len(a) == 0 || len(b) == 0 {
		return nil, errorf("scalar operands %v, %v", a, b)
	}
	var out []int
	pa, pb := a, b
	if len(a) == 1 {
		pa = []int{1, a[0]}
	}
	if len(b) == 1 {
		pb = []int{b[0], 1}
	}
	o.k = pa[len(pa)-1]
	if pb[len(pb)-2] != o.k {
		return nil, errorf("inner dimensions differ: %v × %v", a, b)
	}
	o.n = pb[len(pb)-1]
	switch {
	case len(pb) == 2:
		o.sharedB = true
		o.batch, o.m = 1, tensor.Size(pa[:len(pa)-1])
		out = append(append([]int(nil), pa[:len(pa)-1]...), o.n)
	case len(pa) == len(pb) && tensor.SameShape(pa[:len(pa)-2], pb[:len(pb)-2]):
		o.batch, o.m = tensor.Size(pa[:len(pa)-2]), pa[len(pa)-2]
		out = append(append([]int(nil), pa[:len(pa)-1]...), o.n)
	default:
		return nil, errorf("batch dimensions of %v and %v differ (broadcast batches unsupported)", a, b)
	}
	if len(a) == 1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if len(b) == 1 {
		out = out[:len(out)-1]
	}
	return [][]int{out}, nil
}

func (o *matMulOp) buildSparse(w *tensor.Tensor) sparseForm {
	if !o.sharedB || w.Rank() != 2 {
		return nil
	}
	return sparseForm{kernels.NewCSR(transpose(w.Data, o.k, o.n), o.n, o.k)}
}

func (o *matMulOp) setSparse(f sparseForm) { o.sparse = f }

func (o *matMulOp) forward(r *runState, in, out []*tensor.Tensor) {
	a, b, y := in[0].Data, in[1].Data, out[0].Data
	m, n, k := o.m, o.n, o.k
	if o.sparse != nil && !r.training {
		o.sparse[0].MulTransB(m, 1, a, k, 0, y, n)
		return
	}
	for i := 0; i < o.batch; i++ {
		bo := 0
		if !o.sharedB {
			bo = i * k * n
		}
		kernels.Gemm(false, false, m, n, k, 1, a[i*m*k:], k, b[bo:], n, 0, y[i*m*n:], n)
	}
}

func (o *matMulOp) backward(_ *runState, in, _, gOut, gIn []*tensor.Tensor) {
	a, b, gy := in[0].Data, in[1].Data, gOut[0].Data
	m, n, k := o.m, o.n, o.k
	for i := 0; i < o.batch; i++ {
		bo := 0
		if !o.sharedB {
			bo = i * k * n
		}
		if gIn[0] != nil {
			kernels.Gemm(false, true, m, k, n, 1, gy[i*m*n:], n, b[bo:], n, 1, gIn[0].Data[i*m*k:], k)
		}
		if gIn[1] != nil {
			kernels.Gemm(true, false, k, n, m, 1, a[i*m*k:], k, gy[i*m*n:], n, 1, gIn[1].Data[bo:], n)
		}
	}
}
