// Package probe builds the fixed probe batch a variant's output parity is checked on
// and the checksum of a model's outputs on it, shared by agents and the coordinator.
package probe

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// BatchSize is the number of samples in a probe batch.
const BatchSize = 16

// MaxSampleElems bounds the elements of one probe sample, so that a manifest cannot
// make an agent allocate without limit.
const MaxSampleElems = 1 << 22

// TopK is how many leading outputs per row the checksum ranks.
const TopK = 3

// ChecksumPrefix starts every checksum and names its scheme, so that a later scheme
// never compares equal to this one.
const ChecksumPrefix = "top3-sha256:"

// ErrShape means a sample shape or an output cannot be used for a probe.
var ErrShape = errors.New("probe: bad shape")

// Batch returns the probe batch for seed: BatchSize samples of sampleShape (batch
// dimension excluded) with values uniform in [0, 1), drawn from a PCG stream seeded
// with seed, so every caller with the same seed and shape gets the same bits. It
// returns ErrShape when a dimension is not positive or the sample is too large.
func Batch(seed uint64, sampleShape []int64) (*tensor.Tensor, error) {
	if len(sampleShape) == 0 {
		return nil, fmt.Errorf("%w: empty sample shape", ErrShape)
	}
	shape := make([]int, 0, len(sampleShape)+1)
	shape = append(shape, BatchSize)
	elems := int64(1)
	for i, d := range sampleShape {
		if d <= 0 {
			return nil, fmt.Errorf("%w: sample dim %d is %d, want > 0", ErrShape, i, d)
		}
		elems *= d
		if elems > MaxSampleElems {
			return nil, fmt.Errorf("%w: sample shape %v exceeds %d elements", ErrShape, sampleShape, MaxSampleElems)
		}
		shape = append(shape, int(d))
	}
	t := tensor.New(shape...)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range t.Data {
		t.Data[i] = r.Float32()
	}
	return t, nil
}

// OutputChecksum hashes, for every output in order, its shape and for every row
// (the last axis) the indices of its TopK largest values in decreasing order. Ranking
// instead of raw bits keeps the checksum equal across thread counts and dense or
// sparse kernels, whose float sums differ in the last bits, while a different or
// corrupted model changes it. It returns ErrShape for no outputs, a nil or scalar
// output, or a NaN value.
func OutputChecksum(outputs []*tensor.Tensor) (string, error) {
	if len(outputs) == 0 {
		return "", fmt.Errorf("%w: no outputs", ErrShape)
	}
	h := sha256.New()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	put(uint64(len(outputs)))
	for n, out := range outputs {
		if out == nil || out.Rank() == 0 || out.Len() == 0 {
			return "", fmt.Errorf("%w: output %d is empty or a scalar", ErrShape, n)
		}
		put(uint64(out.Rank()))
		for _, d := range out.Shape {
			put(uint64(d))
		}
		cols := out.Shape[out.Rank()-1]
		k := min(TopK, cols)
		idx := make([]int, cols)
		for row := 0; row < out.Len()/cols; row++ {
			vals := out.Data[row*cols : (row+1)*cols]
			for i := range idx {
				if math.IsNaN(float64(vals[i])) {
					return "", fmt.Errorf("%w: output %d row %d holds NaN", ErrShape, n, row)
				}
				idx[i] = i
			}
			sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] > vals[idx[b]] })
			for _, i := range idx[:k] {
				put(uint64(i))
			}
		}
	}
	return ChecksumPrefix + hex.EncodeToString(h.Sum(nil)), nil
}
