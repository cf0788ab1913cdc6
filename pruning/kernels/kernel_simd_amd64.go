//go:build goexperiment.simd && amd64

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

// Every function here ends its vector part with archsimd.ClearAVXUpperBits
// (VZEROUPPER): the compiler does not emit it yet, and the scalar SSE code that runs
// next (packing, tails, the caller) otherwise pays the AVX-to-SSE transition penalty;
// measured: a 300-element dot product took longer than the scalar loop without it.

// hasAVX2FMA reports whether the AVX2/FMA kernels may run on this CPU.
var hasAVX2FMA = archsimd.X86.AVX2() && archsimd.X86.FMA()

// avx2Kernel is the 4×16 AVX2/FMA micro-kernel: eight 8-wide accumulators, two
// vectors of B and one broadcast of A per k step. Wider tiles (6×16, 4×24, 8×8) were
// measured slower: the compiler hoists the broadcasts and spills accumulators.
var avx2Kernel = kernel{mr: 4, nr: 16, full: kernel4x16, name: "avx2-4x16"}

// kernel4x16 walks the packed panels with unsafe pointers after checking their
// lengths once: slice re-slicing in the loop cost ~25% in bounds checks.
func kernel4x16(kc int, ap, bp []float32, ldbp int, c []float32, ldc int) {
	if kc == 0 {
		return
	}
	var c00, c01, c10, c11, c20, c21, c30, c31 archsimd.Float32x8
	_ = ap[4*kc-1]
	_ = bp[(kc-1)*ldbp+15]
	pa := unsafe.Pointer(&ap[0])
	pb := unsafe.Pointer(&bp[0])
	// The loop leaves before the last advance, so that no pointer ever points past the
	// panels (invalid in Go, caught by checkptr under -race). Byte offsets recomputed
	// each step instead cost 12%.
	for p := 1; ; p++ {
		b0 := archsimd.LoadFloat32x8((*[8]float32)(pb))
		b1 := archsimd.LoadFloat32x8((*[8]float32)(unsafe.Add(pb, 32)))
		a := archsimd.BroadcastFloat32x8(*(*float32)(pa))
		c00 = a.MulAdd(b0, c00)
		c01 = a.MulAdd(b1, c01)
		a = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(pa, 4)))
		c10 = a.MulAdd(b0, c10)
		c11 = a.MulAdd(b1, c11)
		a = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(pa, 8)))
		c20 = a.MulAdd(b0, c20)
		c21 = a.MulAdd(b1, c21)
		a = archsimd.BroadcastFloat32x8(*(*float32)(unsafe.Add(pa, 12)))
		c30 = a.MulAdd(b0, c30)
		c31 = a.MulAdd(b1, c31)
		if p == kc {
			break
		}
		pa = unsafe.Add(pa, 16)
		pb = unsafe.Add(pb, 4*ldbp)
	}
	addRow16(c[0:16], c00, c01)
	addRow16(c[ldc:ldc+16], c10, c11)
	addRow16(c[2*ldc:2*ldc+16], c20, c21)
	addRow16(c[3*ldc:3*ldc+16], c30, c31)
	archsimd.ClearAVXUpperBits()
}

// addRow16 adds two accumulators to sixteen elements of C.
func addRow16(c []float32, x0, x1 archsimd.Float32x8) {
	p0 := (*[8]float32)(c[0:8])
	p1 := (*[8]float32)(c[8:16])
	archsimd.LoadFloat32x8(p0).Add(x0).Store(p0)
	archsimd.LoadFloat32x8(p1).Add(x1).Store(p1)
}

// dotAVX2 returns the inner product of x and y[:len(x)], 32 elements per step.
func dotAVX2(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 archsimd.Float32x8
	i := 0
	for ; i+32 <= len(x); i += 32 {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(y[i:i+8])), s0)
		s1 = archsimd.LoadFloat32x8((*[8]float32)(x[i+8:i+16])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(y[i+8:i+16])), s1)
		s2 = archsimd.LoadFloat32x8((*[8]float32)(x[i+16:i+24])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(y[i+16:i+24])), s2)
		s3 = archsimd.LoadFloat32x8((*[8]float32)(x[i+24:i+32])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(y[i+24:i+32])), s3)
	}
	for ; i+8 <= len(x); i += 8 {
		s0 = archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])).MulAdd(archsimd.LoadFloat32x8((*[8]float32)(y[i:i+8])), s0)
	}
	var lanes [8]float32
	s0.Add(s1).Add(s2.Add(s3)).Store(&lanes)
	archsimd.ClearAVXUpperBits()
	sum := ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
	for ; i < len(x); i++ {
		sum += x[i] * y[i]
	}
	return sum
}

// axpyAVX2 computes y += a·x over len(y) elements, 16 per step.
func axpyAVX2(a float32, x, y []float32) {
	x = x[:len(y)]
	av := archsimd.BroadcastFloat32x8(a)
	i := 0
	for ; i+16 <= len(y); i += 16 {
		p0 := (*[8]float32)(y[i : i+8])
		p1 := (*[8]float32)(y[i+8 : i+16])
		av.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])), archsimd.LoadFloat32x8(p0)).Store(p0)
		av.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(x[i+8:i+16])), archsimd.LoadFloat32x8(p1)).Store(p1)
	}
	for ; i+8 <= len(y); i += 8 {
		p0 := (*[8]float32)(y[i : i+8])
		av.MulAdd(archsimd.LoadFloat32x8((*[8]float32)(x[i:i+8])), archsimd.LoadFloat32x8(p0)).Store(p0)
	}
	archsimd.ClearAVXUpperBits()
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}
