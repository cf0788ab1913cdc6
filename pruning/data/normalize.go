package data

import (
	"fmt"
	"math"
)

// Norm holds per-channel normalization statistics: channel c of every sample becomes
// (x - Mean[c]) / Std[c]. The channel axis is axis 1 of X, so for tabular (N, F) data
// every feature is a channel.
type Norm struct {
	Mean []float32
	Std  []float32
}

// channels returns the channel count and the values per channel per sample.
func (d *Dataset) channels() (c, inner int) {
	if d.X.Rank() < 2 {
		return 1, 1
	}
	c = d.X.Shape[1]
	inner = 1
	for _, s := range d.X.Shape[2:] {
		inner *= s
	}
	return c, inner
}

// ComputeNorm returns the per-channel mean and standard deviation of d (computed in
// float64). A channel with zero spread gets Std 1 so normalizing it is a shift only.
func ComputeNorm(d *Dataset) Norm {
	c, inner := d.channels()
	sum := make([]float64, c)
	sq := make([]float64, c)
	for i, v := range d.X.Data {
		ch := (i / inner) % c
		sum[ch] += float64(v)
		sq[ch] += float64(v) * float64(v)
	}
	count := float64(d.Len() * inner)
	n := Norm{Mean: make([]float32, c), Std: make([]float32, c)}
	for ch := range c {
		if count == 0 {
			n.Std[ch] = 1
			continue
		}
		m := sum[ch] / count
		v := sq[ch]/count - m*m
		s := math.Sqrt(math.Max(v, 0))
		if s < 1e-12 {
			s = 1
		}
		n.Mean[ch], n.Std[ch] = float32(m), float32(s)
	}
	return n
}

// Normalize applies n to d in place. It fails when n's length is not d's channel count
// or a Std is not a positive finite number.
func (d *Dataset) Normalize(n Norm) error {
	c, inner := d.channels()
	if len(n.Mean) != c || len(n.Std) != c {
		return fmt.Errorf("data: normalize %s: %d means and %d stds for %d channels", d.Name, len(n.Mean), len(n.Std), c)
	}
	for ch, s := range n.Std {
		if !(s > 0) || math.IsInf(float64(s), 0) || math.IsNaN(float64(n.Mean[ch])) || math.IsInf(float64(n.Mean[ch]), 0) {
			return fmt.Errorf("data: normalize %s: channel %d: mean %v std %v, want finite mean and positive finite std", d.Name, ch, n.Mean[ch], s)
		}
	}
	for i := range d.X.Data {
		ch := (i / inner) % c
		d.X.Data[i] = (d.X.Data[i] - n.Mean[ch]) / n.Std[ch]
	}
	return nil
}

// Shuffle reorders the samples in place with a seeded permutation (see Permutation).
func (d *Dataset) Shuffle(seed uint64) {
	perm := Permutation(d.Len(), seed)
	s := d.Subset(d.Name, perm)
	d.X, d.Labels = s.X, s.Labels
}
