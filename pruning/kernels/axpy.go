package kernels

import "fmt"

// axpyGeneric computes y += a·x over len(y) elements; x must be at least as long.
func axpyGeneric(a float32, x, y []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

// CopyRows copies rows rows of n elements from src (row stride lds) to dst (row
// stride ldd); dst must not overlap src. It panics when a matrix does not fit its
// slice.
func CopyRows(dst []float32, ldd int, src []float32, lds int, n, rows int) {
	checkMatrix("CopyRows dst", rows, n, dst, ldd)
	checkMatrix("CopyRows src", rows, n, src, lds)
	if rows > 0 && n > 0 {
		addReluRows(dst, ldd, src, lds, nil, 0, n, rows, false, false)
	}
}

// GatherPlanes copies planes planes of rows rows of n elements from x to dst, or with
// y sets dst = x + y, clamped at zero with relu: plane p of dst starts at p·dPlane, of
// x at p·xPlane, of y at p·yPlane, each with its own row stride. y nil copies x (relu
// is then ignored: it clamps sums). dst must overlap neither x nor y. It is one call
// for a convolution's output channels, gathered from a GEMM's wider rows. It panics
// when a plane does not fit its slice or a stride is negative.
func GatherPlanes(dst []float32, ldd, dPlane int, x []float32, ldx, xPlane int, y []float32, ldy, yPlane int, n, rows, planes int, relu bool) {
	if planes < 0 || dPlane < 0 || xPlane < 0 || yPlane < 0 {
		panic(fmt.Sprintf("kernels: GatherPlanes: %d planes with strides %d, %d, %d", planes, dPlane, xPlane, yPlane))
	}
	if planes == 0 || rows <= 0 || n <= 0 {
		checkMatrix("GatherPlanes dst", rows, n, dst, ldd)
		return
	}
	checkMatrix("GatherPlanes dst", rows, n, dst[(planes-1)*dPlane:], ldd)
	checkMatrix("GatherPlanes x", rows, n, x[(planes-1)*xPlane:], ldx)
	add := y != nil
	if add {
		checkMatrix("GatherPlanes y", rows, n, y[(planes-1)*yPlane:], ldy)
	}
	if rows == 1 {
		// One row per plane (a 1×1 stride-2 convolution's output): the planes are
		// the rows of one call, not a call each.
		addReluRows(dst, dPlane, x, xPlane, y, yPlane, n, planes, add, relu)
		return
	}
	for p := range planes {
		var yp []float32
		if add {
			yp = y[p*yPlane:]
		}
		addReluRows(dst[p*dPlane:], ldd, x[p*xPlane:], ldx, yp, ldy, n, rows, add, relu)
	}
}

// Sum returns the sum of x: with the build's dot product against ones (AVX2 on amd64)
// for up to len(sumOnes) values, else in eight interleaved partial sums. A plain loop
// waits one add latency per value (a 49-value channel of a global average pool).
func Sum(x []float32) float32 {
	if len(x) <= len(sumOnes) {
		return dot(x, sumOnes[:len(x)])
	}
	var s0, s1, s2, s3, s4, s5, s6, s7 float32 // (locals: an array stayed in memory)
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
	}
	for _, v := range x[i:] {
		s0 += v
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// sumOnes is Sum's right operand of the dot product.
var sumOnes = func() []float32 {
	o := make([]float32, 4096)
	for i := range o {
		o[i] = 1
	}
	return o
}()

// Deinterleave2Rows splits rows of n elements into their even- and odd-indexed
// elements: for each row r, even[r·ldd+i] = src[r·lds+2i] for i < (n+1)/2 and
// odd[r·ldd+i] = src[r·lds+2i+1] for i < n/2 (a stride-2 window's two column
// phases). even and odd must not overlap src. It panics when a slice is too short.
func Deinterleave2Rows(even, odd []float32, ldd int, src []float32, lds int, n, rows int) {
	if n < 0 || rows < 0 {
		panic(fmt.Sprintf("kernels: Deinterleave2Rows: negative size %d×%d", rows, n))
	}
	if rows == 0 || n == 0 {
		return
	}
	checkMatrix("Deinterleave2Rows even", rows, (n+1)/2, even, ldd)
	checkMatrix("Deinterleave2Rows src", rows, n, src, lds)
	if n > 1 {
		checkMatrix("Deinterleave2Rows odd", rows, n/2, odd, ldd)
	}
	deinterleave2(even, odd, ldd, src, lds, n/2, rows)
	if n%2 == 1 {
		for r := range rows {
			even[r*ldd+n/2] = src[r*lds+n-1]
		}
	}
}

// Deinterleave2Planes is Deinterleave2Rows over planes planes: plane p of even and
// odd starts p·dPlane floats in, of src p·sPlane (a stride-2 convolution's input
// channels, split into their column phases in one call). It panics when a plane does
// not fit its slice or a stride is negative.
func Deinterleave2Planes(even, odd []float32, ldd, dPlane int, src []float32, lds, sPlane int, n, rows, planes int) {
	if n < 0 || rows < 0 || planes < 0 || dPlane < 0 || sPlane < 0 {
		panic(fmt.Sprintf("kernels: Deinterleave2Planes: %d planes of %d×%d, strides %d and %d", planes, rows, n, dPlane, sPlane))
	}
	if rows == 0 || n == 0 || planes == 0 {
		return
	}
	last := planes - 1
	checkMatrix("Deinterleave2Planes even", rows, (n+1)/2, even[last*dPlane:], ldd)
	checkMatrix("Deinterleave2Planes src", rows, n, src[last*sPlane:], lds)
	if n > 1 {
		checkMatrix("Deinterleave2Planes odd", rows, n/2, odd[last*dPlane:], ldd)
	}
	for p := range planes {
		e, o, s := even[p*dPlane:], odd[p*dPlane:], src[p*sPlane:]
		if n > 1 {
			deinterleave2(e, o, ldd, s, lds, n/2, rows)
		}
		if n%2 == 1 {
			for r := range rows {
				e[r*ldd+n/2] = s[r*lds+n-1]
			}
		}
	}
}

// deinterleave2Generic is deinterleave2 in Go.
func deinterleave2Generic(even, odd []float32, ldd int, src []float32, lds int, pairs, rows int) {
	for r := range rows {
		e, o, s := even[r*ldd:r*ldd+pairs], odd[r*ldd:r*ldd+pairs], src[r*lds:r*lds+2*pairs]
		for i := range e {
			e[i], o[i] = s[2*i], s[2*i+1]
		}
	}
}

// addReluRowsGeneric is addReluRows in Go.
func addReluRowsGeneric(dst []float32, ldd int, x []float32, ldx int, y []float32, ldy int, n, rows int, add, relu bool) {
	for r := range rows {
		d, xs := dst[r*ldd:r*ldd+n], x[r*ldx:r*ldx+n]
		if !add {
			copy(d, xs)
			continue
		}
		addReluGeneric(d, xs, y[r*ldy:r*ldy+n], relu)
	}
}

// addReluGeneric sets dst[i] = x[i] + y[i], clamped at zero with relu, over len(dst)
// elements; x and y must be at least as long.
func addReluGeneric(dst, x, y []float32, relu bool) {
	x, y = x[:len(dst)], y[:len(dst)]
	if relu {
		for i := range dst {
			dst[i] = max(x[i]+y[i], 0)
		}
		return
	}
	for i := range dst {
		dst[i] = x[i] + y[i]
	}
}

// dotGeneric returns the inner product of x and y[:len(x)] with four partial sums.
func dotGeneric(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}
