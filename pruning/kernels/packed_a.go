package kernels

import (
	"fmt"

	"gonum.org/v1/gonum/blas/blas32"
	"gonum.org/v1/gonum/blas/gonum"
)

// PackedA is the left operand of a GEMM, alpha·op(A), packed once for the micro-kernel:
// a layer's weights at inference, multiplied by a new right operand on every run, so
// that no run packs them again. Where Gemm would not run this package's kernels
// (gonum's or a plugged-in BLAS, or three rows or fewer), it keeps A itself and GemmA
// hands the call to Gemm. A must not change while its PackedA is in use; a PackedA is
// read-only and safe for concurrent use.
type PackedA struct {
	M, K int
	kern kernel
	mPad int       // M rounded up to the micro-kernel's mr
	data []float32 // per block of kcBlock columns of op(A), mPad rows as mr-tall panels

	// The unpacked operand, for the Gemm fallback.
	transA bool
	alpha  float32
	a      []float32
	lda    int
}

// ownPacked reports whether GEMMs with m rows run this package's packed kernels.
func ownPacked(m int) bool {
	_, builtin := blas32.Implementation().(gonum.Implementation)
	return builtin && ownGemm() && m > smallM
}

// PackA packs alpha·op(A), where op(A) is m×k with row stride lda. It panics when a
// dimension or stride does not fit a.
func PackA(transA bool, m, k int, alpha float32, a []float32, lda int) *PackedA {
	return PackAInto(nil, transA, m, k, alpha, a, lda, nil)
}

// PackAInto is PackA reusing dst's storage when it is large enough (dst nil: new). With
// rowScale set, row i of op(A) is also scaled by rowScale[i]: a BatchNormalization's
// scale folded into the filters of the convolution before it.
func PackAInto(dst *PackedA, transA bool, m, k int, alpha float32, a []float32, lda int, rowScale []float32) *PackedA {
	if m < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: PackA: negative dimension m=%d k=%d", m, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("PackA a", ar, ac, a, lda)
	if rowScale != nil && len(rowScale) < m {
		panic(fmt.Sprintf("kernels: PackA: %d row scales for %d rows", len(rowScale), m))
	}
	pa := dst
	if pa == nil {
		pa = &PackedA{}
	}
	old := pa.data
	*pa = PackedA{M: m, K: k, transA: transA, alpha: alpha, a: a, lda: lda}
	if !ownPacked(m) || k == 0 {
		if rowScale != nil {
			// The fallback multiplies by A itself: keep a scaled copy, as op(A) rows.
			sa := make([]float32, m*k)
			for i := range m {
				for p := range k {
					v := a[i*lda+p]
					if transA {
						v = a[p*lda+i]
					}
					sa[i*k+p] = v * rowScale[i]
				}
			}
			pa.transA, pa.a, pa.lda = false, sa, k
		}
		return pa
	}
	pa.kern = microKernel()
	mr := pa.kern.mr
	pa.mPad = (m + mr - 1) / mr * mr
	if cap(old) >= pa.mPad*k {
		pa.data = old[:pa.mPad*k]
	} else {
		pa.data = make([]float32, pa.mPad*k)
	}
	for pc := 0; pc < k; pc += kcBlock {
		kc := min(kcBlock, k-pc)
		// Row blocks of mcBlock, as gemmSerial packs them; the panels of one k block are
		// contiguous over all rows, so any mr-aligned row range is a slice of them.
		for ic := 0; ic < m; ic += mcBlock {
			mc := min(mcBlock, m-ic)
			packA(transA, a, lda, ic, pc, mc, kc, mr, alpha, pa.data[pc*pa.mPad+ic*kc:])
		}
		if rowScale != nil {
			scalePanels(pa.data[pc*pa.mPad:pc*pa.mPad+pa.mPad*kc], m, kc, mr, rowScale)
		}
	}
	pa.a = nil // only the packed form is used from here on
	return pa
}

// GemmA computes C = A·op(B) + beta·C with A = alpha·op(A) packed by PackA: op(B) is
// K×n (n×K with transB) with row stride ldb, C is M×n with row stride ldc. With beta
// == 0, C is overwritten. It panics when a dimension or stride does not fit.
func GemmA(pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmAEpilogue(pa, transB, n, b, ldb, beta, c, ldc, nil)
}

// GemmAEpilogue is GemmA that applies ep (nil: none) to C's final values.
func GemmAEpilogue(pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if n < 0 {
		panic(fmt.Sprintf("kernels: GemmA: negative dimension n=%d", n))
	}
	ep.check(pa.M, n)
	if pa.data == nil {
		Gemm(pa.transA, transB, pa.M, n, pa.K, pa.alpha, pa.a, pa.lda, b, ldb, beta, c, ldc)
		ep.apply(pa.M, n, c, ldc)
		return
	}
	br, bc := pa.K, n
	if transB {
		br, bc = n, pa.K
	}
	checkMatrix("GemmA b", br, bc, b, ldb)
	checkMatrix("GemmA c", pa.M, n, c, ldc)
	if pa.M == 0 || n == 0 {
		return
	}
	if beta != 0 {
		scaleMatrix(pa.M, n, beta, c, ldc)
	}
	gemmPacked(pa.kern, false, transB, pa.M, n, pa.K, 1, nil, 0, b, ldb, c, ldc, gemmOpts{pa: pa, overwrite: beta == 0, ep: ep})
}

// scalePanels multiplies row i of the mr-tall panels of one k block (kc values per
// row, mr rows interleaved per k step) by scale[i], for the m real rows.
func scalePanels(block []float32, m, kc, mr int, scale []float32) {
	for ir := 0; ir < m; ir += mr {
		panel := block[ir*kc : (ir+mr)*kc]
		h := min(mr, m-ir)
		if mr == 4 && h == 4 {
			s := scale[ir : ir+4 : ir+4]
			s0, s1, s2, s3 := s[0], s[1], s[2], s[3]
			for p := 0; p+4 <= len(panel); p += 4 {
				d := panel[p : p+4 : p+4]
				d[0] *= s0
				d[1] *= s1
				d[2] *= s2
				d[3] *= s3
			}
			continue
		}
		for p := range kc {
			for i := range h {
				panel[p*mr+i] *= scale[ir+i]
			}
		}
	}
}
