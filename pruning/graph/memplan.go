package graph

import (
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// An inference-only executor does not keep activations, so its plans share buffers: a
// value's buffer returns to a free list after its last reader has run, and the next
// output that fits takes it (best fit). Identity, Flatten and Reshape outputs alias
// their input's buffer, a graph input's included (bound at each run, never reused). This bounds peak memory by the widest cut of the graph, not
// by the sum of all activations, and keeps the working set in cache.

// lastUses returns, per value, the index of the last node that reads it; graph outputs
// live to the end.
func (e *Executor) lastUses() []int {
	last := make([]int, len(e.names))
	for i := range last {
		last[i] = -1
	}
	for k, cn := range e.nodes {
		for _, v := range cn.in {
			if v >= 0 {
				last[v] = k
			}
		}
	}
	for _, v := range e.outputs {
		last[v] = len(e.nodes)
	}
	return last
}

// allocShared gives every node output of plan p a buffer, reusing dead ones.
func (e *Executor) allocShared(p *plan) {
	last := e.lastUses()
	type group struct {
		size, start, end int
		data             []float32
	}
	groupOf := make([]int, len(e.names))
	for i := range groupOf {
		groupOf[i] = -1
	}
	var groups []group
	for k, cn := range e.nodes {
		_, isCopy := p.ops[k].(copyOp)
		alias := isCopy || e.absorbed[k]
		for j, v := range cn.out {
			if _, ok := e.constants[v]; ok {
				continue
			}
			end := max(last[v], k)
			if src := cn.in[0]; j == 0 && isCopy && src >= 0 && e.isInput(src) {
				// A view of a graph input: its data is the input's, set by bind.
				p.vals[v] = &tensor.Tensor{Shape: p.shapes[v]}
				p.inputViews = append(p.inputViews, [2]int{v, src})
				continue
			}
			if src := cn.in[e.chainIn[k]]; j == 0 && alias && src >= 0 && groupOf[src] >= 0 {
				gi := groupOf[src]
				groupOf[v] = gi
				groups[gi].end = max(groups[gi].end, end)
				continue
			}
			groupOf[v] = len(groups)
			groups = append(groups, group{size: tensor.Size(p.shapes[v]), start: k, end: end})
		}
	}
	var free [][]float32
	take := func(size int) []float32 {
		best := -1
		for i, b := range free {
			if cap(b) >= size && (best < 0 || cap(b) < cap(free[best])) {
				best = i
			}
		}
		if best < 0 {
			return make([]float32, size)
		}
		b := free[best]
		free = append(free[:best], free[best+1:]...)
		return b[:size]
	}
	gi := 0
	for k := range e.nodes {
		for ; gi < len(groups) && groups[gi].start == k; gi++ {
			groups[gi].data = take(groups[gi].size)
		}
		for _, v := range e.nodes[k].out {
			if g := groupOf[v]; g >= 0 {
				p.vals[v] = &tensor.Tensor{Shape: p.shapes[v], Data: groups[g].data[:tensor.Size(p.shapes[v])]}
			}
		}
		for g := range groups[:gi] {
			if groups[g].end == k && groups[g].data != nil {
				free = append(free, groups[g].data[:cap(groups[g].data)])
			}
		}
	}
}
