package kernels

import "fmt"

// Epilogue is what a GEMM does to C as C receives its final value, while the tile is
// still in registers or cache: C[i][j] = relu(C[i][j] + Shift[i] + Residual[i][j]).
// It fuses a convolution's bias (or folded BatchNormalization shift), a residual Add
// and a Relu into the GEMM instead of a pass over the output after it.
type Epilogue struct {
	// Shift is added to every element of row i of C; nil: none.
	Shift []float32
	// Residual is added elementwise, its rows LdRes apart; nil: none.
	Residual []float32
	LdRes    int
	// Relu clamps C at zero, after the additions.
	Relu bool
}

// active reports whether e changes anything.
func (e *Epilogue) active() bool {
	return e != nil && (e.Shift != nil || e.Residual != nil || e.Relu)
}

// sub returns the epilogue of the part of C from row r0 and column c0 on.
func (e *Epilogue) sub(r0, c0 int) *Epilogue {
	if !e.active() || r0 == 0 && c0 == 0 {
		return e
	}
	s := *e
	if s.Shift != nil {
		s.Shift = s.Shift[r0:]
	}
	if s.Residual != nil {
		s.Residual = s.Residual[r0*s.LdRes+c0:]
	}
	return &s
}

// tileEpilogue is the part of an Epilogue for one micro-tile, passed by value so
// that the per-tile call allocates nothing.
type tileEpilogue struct {
	shift, res []float32 // from the tile's first row (and column); nil: none
	ldr        int
	relu       bool
}

// tile returns the part of e for the tile at (row, col) of C.
func (e *Epilogue) tile(row, col int) tileEpilogue {
	t := tileEpilogue{ldr: e.LdRes, relu: e.Relu}
	if e.Shift != nil {
		t.shift = e.Shift[row:]
	}
	if e.Residual != nil {
		t.res = e.Residual[row*e.LdRes+col:]
	}
	return t
}

// applyRow applies e to row i of C from column j0 on: row holds those elements.
func (e *Epilogue) applyRow(i, j0 int, row []float32) {
	if !e.active() {
		return
	}
	if e.Shift != nil {
		b := e.Shift[i]
		for j := range row {
			row[j] += b
		}
	}
	if e.Residual != nil {
		axpy(1, e.Residual[i*e.LdRes+j0:i*e.LdRes+j0+len(row)], row)
	}
	if e.Relu {
		for j, v := range row {
			row[j] = max(v, 0)
		}
	}
}

// check panics unless e fits an m×n C.
func (e *Epilogue) check(m, n int) {
	if e == nil {
		return
	}
	if e.Shift != nil && len(e.Shift) < m {
		panic(fmt.Sprintf("kernels: Epilogue: %d shifts for %d rows", len(e.Shift), m))
	}
	if e.Residual != nil {
		checkMatrix("Epilogue residual", m, n, e.Residual, e.LdRes)
	}
}

// apply applies e to all of the m×n C.
func (e *Epilogue) apply(m, n int, c []float32, ldc int) {
	if !e.active() {
		return
	}
	for i := range m {
		e.applyRow(i, 0, c[i*ldc:i*ldc+n])
	}
}
