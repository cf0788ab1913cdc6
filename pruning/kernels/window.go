package kernels

import "math"

// winC is the number of rows per slice of a windowForm, and the width of a window:
// one 8-wide vector.
const winC = 8

// windowForm is a sparse matrix laid out for products with one vector, so that the
// eight values of x one 8-wide FMA needs come from one permute of one contiguous load
// instead of eight scalar loads (the gather of sliced ELLPACK, which bound it at ~7
// cycles per eight nonzeros on this AMD CPU).
//
// Rows are sorted by their number of nonzeros and taken eight at a time (a slice, one
// row per vector lane). A slice's nonzeros are stored in groups: a group has a window
// of eight consecutive columns of x starting at base, and for each lane either one
// nonzero of that lane's row inside the window (its value, and its column's offset
// 0..7 in the window) or none (value 0, offset -1). The kernel loads the window,
// permutes it by the offsets, zeroes the lanes without a nonzero (so an infinity or
// NaN in x at a pruned weight's column does not turn into NaN, as in the CSR product)
// and adds the product with the values to the slice's eight sums.
//
// Groups are formed greedily: the window starts at the smallest column not yet stored
// among the slice's rows, and every row whose next nonzero falls inside it contributes
// that one. LeNet-300-100's first layer at 90% zeros (a 300×784 matrix, 23.5K nonzeros)
// takes about 6K groups: four nonzeros per group on average, at four loads per group
// (window, offsets, values, base) against thirteen for eight gathered nonzeros.
type windowForm struct {
	// slicePtr has a slice count + 1 entries; slice i's groups are
	// [slicePtr[i], slicePtr[i+1]).
	slicePtr []int32
	// base[g] is group g's first column; lane[winC·g+l] the offset of lane l's column
	// in the window (-1: none); val[winC·g+l] its value (0 for none).
	base []int32
	lane []int8
	val  []float32
	// perm maps each sorted position (slice·winC + l) to its row; positions past the
	// last row map to row 0 and are never written.
	perm []int32
	// cols is the matrix's column count: windows start at most at cols-winC, so a
	// window never reads past x (x needs at least winC elements).
	cols int
}

// groups returns the number of groups in v.
func (v *windowForm) groups() int { return len(v.base) }

// newWindows returns s in window form, or nil when the groups would exceed 2³¹.
func newWindows(s *CSR) *windowForm {
	nsl := (s.Rows + winC - 1) / winC
	v := &windowForm{slicePtr: make([]int32, nsl+1), perm: make([]int32, nsl*winC), cols: s.Cols}
	rows := s.rowsByLength()
	copy(v.perm, rows)
	maxBase := max(s.Cols-winC, 0)
	var next, end [winC]int // per lane: the next stored nonzero and the row's end
	for sl := range nsl {
		for l := range winC {
			next[l], end[l] = 0, 0
			if pos := sl*winC + l; pos < s.Rows {
				next[l], end[l] = int(s.rowPtr[rows[pos]]), int(s.rowPtr[rows[pos]+1])
			}
		}
		for {
			c := math.MaxInt
			for l := range winC {
				if next[l] < end[l] {
					c = min(c, s.col(next[l]))
				}
			}
			if c == math.MaxInt {
				break
			}
			b := min(c, maxBase)
			v.base = append(v.base, int32(b))
			for l := range winC {
				if next[l] < end[l] && s.col(next[l]) < b+winC {
					v.lane = append(v.lane, int8(s.col(next[l])-b))
					v.val = append(v.val, s.val[next[l]])
					next[l]++
					continue
				}
				v.lane = append(v.lane, -1)
				v.val = append(v.val, 0)
			}
			if v.groups() > math.MaxInt32 {
				return nil
			}
		}
		v.slicePtr[sl+1] = int32(v.groups())
	}
	return v
}

// rowsGeneric is rows in Go.
func (v *windowForm) rowsGeneric(lo, hi, rows int, x, y, bias []float32, relu bool) {
	for sl := lo; sl < hi; sl++ {
		var acc [winC]float32
		for g := v.slicePtr[sl]; g < v.slicePtr[sl+1]; g++ {
			w := x[v.base[g]:][:winC]
			lane, val := v.lane[g*winC:][:winC], v.val[g*winC:][:winC]
			for l, o := range lane {
				if o >= 0 {
					acc[l] += val[l] * w[o&(winC-1)]
				}
			}
		}
		storeSlice(acc[:min(winC, rows-(sl-lo)*winC)], v.perm[sl*winC:], y, bias, relu)
	}
}
