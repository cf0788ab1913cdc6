package prune

import (
	"fmt"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Remove returns a copy of the graph with the given units of each group removed: every
// coupled slice goes at once and shapes, depthwise group counts and Reshape constants
// follow, so the result is a valid, smaller dense model. remove maps group names to unit
// indices. It leaves the receiver's graph unchanged and fails, naming the group, when a
// name is unknown, an index is out of range, or a group would lose every unit.
func (d *DepGraph) Remove(remove map[string][]int) (*graph.Graph, error) {
	cut := map[string]map[int]map[int]bool{} // param → axis → indices
	drop := map[string]int{}                 // value → channels removed
	for _, name := range sortedKeys(remove) {
		gr := d.Group(name)
		if gr == nil {
			return nil, fmt.Errorf("prune: remove: unknown group %q (groups: %v)", name, d.GroupNames())
		}
		seen := map[int]bool{}
		for _, i := range remove[name] {
			if i < 0 || i >= gr.Size() {
				return nil, fmt.Errorf("prune: remove: group %q has %d units, index %d out of range", name, gr.Size(), i)
			}
			seen[i] = true
		}
		if len(seen) == gr.Size() {
			return nil, fmt.Errorf("prune: remove: group %q would lose all %d units; keep at least one", name, gr.Size())
		}
		for i := range seen {
			u := gr.Units[i]
			for _, s := range u.Slices {
				if cut[s.Param] == nil {
					cut[s.Param] = map[int]map[int]bool{}
				}
				if cut[s.Param][s.Axis] == nil {
					cut[s.Param][s.Axis] = map[int]bool{}
				}
				cut[s.Param][s.Axis][s.Index] = true
			}
			for _, e := range u.Elems {
				drop[e.Value]++
			}
		}
	}
	out := d.g.Clone()
	for p, axes := range cut {
		t := out.Params[p]
		for _, axis := range sortedInts(axes) {
			t = dropIndices(t, axis, axes[axis])
		}
		out.Params[p] = t
	}
	for _, n := range d.depthwise {
		c := d.shapes[n.Outputs[0]][1] - drop[n.Outputs[0]]
		out.Node(n.Name).SetAttr("group", graph.IntAttr(int64(c)))
	}
	for _, n := range d.reshapes {
		if err := resizeReshape(out, out.Node(n.Name), d.shapes[n.Outputs[0]][1]-drop[n.Outputs[0]]); err != nil {
			return nil, err
		}
	}
	if _, err := inferShapes(out); err != nil {
		return nil, fmt.Errorf("prune: remove: pruned graph is inconsistent (a coupling the dependency graph missed): %w", err)
	}
	return out, nil
}

// resizeReshape sets the feature dimension of a flattening Reshape's shape constant.
// A constant of -1 already adapts; a constant shared with other nodes is copied first.
func resizeReshape(g *graph.Graph, n *graph.Node, features int) error {
	t, ok := constValue(g, n.Inputs[1])
	if !ok || len(t.Data) != 2 {
		return fmt.Errorf("prune: remove: Reshape %q: shape constant %q not found or not of rank 2", n.Name, n.Inputs[1])
	}
	if t.Data[1] == -1 {
		return nil
	}
	name := n.Inputs[1] + "_pruned_" + n.Name
	shape := t.Clone()
	shape.Data[1] = float32(features)
	old := n.Inputs[1]
	g.Params[name] = shape
	n.Inputs[1] = name
	if _, isParam := g.Params[old]; isParam && len(g.Consumers(old)) == 0 {
		delete(g.Params, old)
	}
	return nil
}

// dropIndices returns a copy of t without the given indices along axis.
func dropIndices(t *tensor.Tensor, axis int, drop map[int]bool) *tensor.Tensor {
	shape := append([]int(nil), t.Shape...)
	keep := make([]int, 0, shape[axis])
	for i := 0; i < shape[axis]; i++ {
		if !drop[i] {
			keep = append(keep, i)
		}
	}
	return takeIndices(t, axis, keep)
}

// takeIndices returns a copy of t holding only the given indices along axis, in order.
func takeIndices(t *tensor.Tensor, axis int, keep []int) *tensor.Tensor {
	outer := tensor.Size(t.Shape[:axis])
	inner := tensor.Size(t.Shape[axis+1:])
	n := t.Shape[axis]
	shape := append([]int(nil), t.Shape...)
	shape[axis] = len(keep)
	out := tensor.New(shape...)
	for o := 0; o < outer; o++ {
		for j, k := range keep {
			copy(out.Data[(o*len(keep)+j)*inner:(o*len(keep)+j+1)*inner], t.Data[(o*n+k)*inner:(o*n+k+1)*inner])
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sortedInts[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
