package graph

// workspace is scratch memory shared by every operator of an executor. Operators run
// one at a time, so one buffer per slot serves them all; it grows to the largest
// request and is then reused, so steady-state runs do not allocate.
type workspace struct{ bufs [][]float32 }

// Workspace slot bases: each kind of scratch gets maxChunks slots, one per batch chunk.
const (
	slotCols  = 0
	slotDCols = maxChunks
	slotDW    = 2 * maxChunks
	slotDB    = 3 * maxChunks
)

// take appends to dst the n buffers of at least size floats at slots base..base+n-1
// and returns it. Call it before fanning out: it is not safe for concurrent use.
func (w *workspace) take(dst [][]float32, base, n, size int) [][]float32 {
	for len(w.bufs) < base+n {
		w.bufs = append(w.bufs, nil)
	}
	for i := base; i < base+n; i++ {
		if len(w.bufs[i]) < size {
			w.bufs[i] = make([]float32, size)
		}
		dst = append(dst, w.bufs[i][:size])
	}
	return dst
}
