// Package data loads datasets for training and evaluation: IDX (MNIST, Fashion-MNIST),
// CSV of features and label, and folders of images, with normalization, shuffling and
// splits.
package data

import (
	"fmt"
	"math/rand/v2"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Dataset is an in-memory labelled dataset: X has shape (N, sample shape...) and
// Labels holds N class indices in [0, NumClasses).
type Dataset struct {
	Name       string
	X          *tensor.Tensor
	Labels     []int
	NumClasses int
	// ClassNames names the labels when the source says them (an image folder's
	// sub-folders, Fashion-MNIST's classes); nil otherwise.
	ClassNames []string
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// SampleShape is the shape of one sample (X's shape without the batch dimension).
func (d *Dataset) SampleShape() []int { return append([]int(nil), d.X.Shape[1:]...) }

// Batch copies the samples at idx into a new (len(idx), sample shape...) tensor and
// returns it with their labels. It panics if an index is out of range.
func (d *Dataset) Batch(idx []int) (*tensor.Tensor, []int) {
	per := tensor.Size(d.X.Shape[1:])
	shape := append([]int{len(idx)}, d.X.Shape[1:]...)
	x := tensor.New(shape...)
	y := make([]int, len(idx))
	for i, j := range idx {
		copy(x.Data[i*per:(i+1)*per], d.X.Data[j*per:(j+1)*per])
		y[i] = d.Labels[j]
	}
	return x, y
}

// Subset returns a dataset holding copies of the samples at idx.
func (d *Dataset) Subset(name string, idx []int) *Dataset {
	x, y := d.Batch(idx)
	return &Dataset{Name: name, X: x, Labels: y, NumClasses: d.NumClasses, ClassNames: d.ClassNames}
}

// Split shuffles the sample order with seed and returns the first (1-valFraction)
// share as training and the rest as validation. valFraction must be in [0, 1).
func (d *Dataset) Split(valFraction float64, seed uint64) (train, val *Dataset, err error) {
	if valFraction < 0 || valFraction >= 1 {
		return nil, nil, fmt.Errorf("data: split of %s: validation fraction %v not in [0, 1)", d.Name, valFraction)
	}
	perm := Permutation(d.Len(), seed)
	nVal := int(float64(d.Len()) * valFraction)
	return d.Subset(d.Name+"/train", perm[nVal:]), d.Subset(d.Name+"/val", perm[:nVal]), nil
}

// Permutation returns a seeded random permutation of 0..n-1; the same seed gives the
// same order on every platform.
func Permutation(n int, seed uint64) []int {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return r.Perm(n)
}
