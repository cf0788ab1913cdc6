package graph

// The BatchNormalization reductions below sum in float64 with four independent
// accumulators: one running float64 sum is bound by the add latency, four keep the
// adder busy. Sums are over one (sample, channel) plane, so the order depends only on
// the plane size, never on the thread count.

// sum64 returns the float64 sum of v.
func sum64(v []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		s0 += float64(q[0])
		s1 += float64(q[1])
		s2 += float64(q[2])
		s3 += float64(q[3])
	}
	for ; i < len(v); i++ {
		s0 += float64(v[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sumSqDev64 returns the float64 sum of (v-m)².
func sumSqDev64(v []float32, m float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := v[i : i+4 : i+4]
		d0, d1, d2, d3 := float64(q[0])-m, float64(q[1])-m, float64(q[2])-m, float64(q[3])-m
		s0 += d0 * d0
		s1 += d1 * d1
		s2 += d2 * d2
		s3 += d3 * d3
	}
	for ; i < len(v); i++ {
		d := float64(v[i]) - m
		s0 += d * d
	}
	return (s0 + s1) + (s2 + s3)
}

// sumDyDyX returns the float64 sums of g and of g·(x-mean)·inv over one plane (x at
// least as long as g). It sums g and g·x and takes sumDyX = inv·(Σg·x − mean·Σg): one
// multiply per element instead of a subtract and two multiplies, and exact products
// (a float32 product is exact in float64) where the per-element x̂ was rounded to
// float32.
func sumDyDyX(g, x []float32, mean, inv float32) (sumDy, sumDyX float64) {
	x = x[:len(g)]
	var a0, a1, b0, b1 float64
	i := 0
	for ; i+2 <= len(g); i += 2 {
		g0, g1 := float64(g[i]), float64(g[i+1])
		a0 += g0
		a1 += g1
		b0 += g0 * float64(x[i])
		b1 += g1 * float64(x[i+1])
	}
	for ; i < len(g); i++ {
		a0 += float64(g[i])
		b0 += float64(g[i]) * float64(x[i])
	}
	sumDy = a0 + a1
	return sumDy, float64(inv) * ((b0 + b1) - float64(mean)*sumDy)
}
