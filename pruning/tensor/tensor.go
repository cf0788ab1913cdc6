// Package tensor holds the dense float32 tensor that every part of the engine shares.
package tensor

import (
	"fmt"
	"strings"
)

// Tensor is a dense, row-major float32 tensor. Shape may be empty for a scalar.
// Data has exactly Size(Shape) elements.
type Tensor struct {
	Shape []int
	Data  []float32
}

// ShapeError reports a tensor whose shape does not fit an operation. Code inside the
// math core panics with it on misuse; boundaries that read outside data return errors.
type ShapeError struct {
	Op   string
	Want string
	Got  []int
}

func (e *ShapeError) Error() string {
	return fmt.Sprintf("tensor: %s: want shape %s, got %v", e.Op, e.Want, e.Got)
}

// Size is the number of elements of a tensor of the given shape. It panics if a
// dimension is negative.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(&ShapeError{Op: "Size", Want: "non-negative dims", Got: shape})
		}
		n *= d
	}
	return n
}

// New returns a zeroed tensor of the given shape.
func New(shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	return &Tensor{Shape: s, Data: make([]float32, Size(s))}
}

// FromData wraps data (not copied) as a tensor of the given shape. It panics with a
// *ShapeError if len(data) does not match the shape.
func FromData(data []float32, shape ...int) *Tensor {
	s := append([]int(nil), shape...)
	if Size(s) != len(data) {
		panic(&ShapeError{Op: "FromData", Want: fmt.Sprintf("%d elements", len(data)), Got: s})
	}
	return &Tensor{Shape: s, Data: data}
}

// Len is the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float32(nil), t.Data...)}
}

// Reshape returns a tensor sharing t's data with a new shape. It panics with a
// *ShapeError if the element count differs.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	return FromData(t.Data, shape...)
}

// String prints the shape and the first few values, for debugging.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v[", t.Shape)
	for i, v := range t.Data {
		if i == 8 {
			b.WriteString(" ...")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%g", v)
	}
	b.WriteByte(']')
	return b.String()
}

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
