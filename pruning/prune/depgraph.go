package prune

import (
	"fmt"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// Role says what a slice of a parameter is to the channel it belongs to.
type Role int

// Slice roles. Criteria weigh Out and In slices; BNScale is what the BN-scale criterion
// reads; Other slices (biases, running statistics, per-channel constants) only follow.
const (
	RoleOut     Role = iota + 1 // a producer's filter or neuron: Conv/Gemm weight rows
	RoleIn                      // a consumer's input slice: Conv/Gemm weight columns
	RoleBNScale                 // a BatchNormalization scale (gamma)
	RoleOther                   // bias, BN shift and statistics, per-channel constants
)

// Slice is one index along one axis of a parameter tensor.
type Slice struct {
	Param string
	Axis  int
	Index int
	Role  Role
}

// Elem is one channel (index along axis 1) of one value of the graph.
type Elem struct {
	Value string
	Index int
}

// Unit is one prunable unit: a set of coupled channels across values that can only be
// removed together, and every parameter slice that goes with them.
type Unit struct {
	Elems  []Elem
	Slices []Slice
}

// Group is a family of units with the same structure, such as all the output channels
// of one convolution with the BatchNormalization, activation and consumers that follow
// it. Units are ordered by their channel index in the group's first value.
type Group struct {
	// Name is the name of the first producing layer (Conv, Gemm, MatMul) in graph order.
	Name string
	// Layers names every producing layer whose output channels the group ties together,
	// more than one when a residual Add or a depthwise convolution couples them.
	Layers []string
	Units  []Unit
}

// Size is the number of units (channels, neurons) in the group.
func (gr *Group) Size() int { return len(gr.Units) }

// DepGraph is the dependency graph of a model: its prunable groups of coupled channels.
// Channels that reach a graph input or output, or pass through an operator whose
// channel semantics it does not know, are never pruned.
type DepGraph struct {
	g      *graph.Graph
	shapes map[string][]int
	// Groups holds the prunable groups in graph order of their first producer.
	Groups []*Group
	// reshapes and depthwise name nodes whose attributes or constants surgery updates.
	reshapes  []*graph.Node
	depthwise []*graph.Node
	// channelGroup names, per value, the group of each channel ("" when fixed).
	channelGroup map[string][]string
}

// Group returns the group with the given name, or nil.
func (d *DepGraph) Group(name string) *Group {
	for _, gr := range d.Groups {
		if gr.Name == name {
			return gr
		}
	}
	return nil
}

// GroupNames lists the group names in order.
func (d *DepGraph) GroupNames() []string {
	out := make([]string, len(d.Groups))
	for i, gr := range d.Groups {
		out[i] = gr.Name
	}
	return out
}

// Graph returns the graph the dependency graph was built on.
func (d *DepGraph) Graph() *graph.Graph { return d.g }

// elemIndex numbers every channel of every value with a known rank ≥ 2 shape.
type elemIndex struct {
	base   map[string]int
	elems  []Elem
	parent []int
}

func (ix *elemIndex) id(value string, i int) (int, bool) {
	b, ok := ix.base[value]
	return b + i, ok
}

func (ix *elemIndex) find(a int) int {
	for ix.parent[a] != a {
		ix.parent[a] = ix.parent[ix.parent[a]]
		a = ix.parent[a]
	}
	return a
}

func (ix *elemIndex) union(a, b int) {
	ra, rb := ix.find(a), ix.find(b)
	if ra != rb {
		if rb < ra {
			ra, rb = rb, ra
		}
		ix.parent[rb] = ra
	}
}

// builder gathers unions, slices and blocked channels while it walks the graph.
type builder struct {
	g       *graph.Graph
	shapes  map[string][]int
	ix      elemIndex
	slices  map[int][]Slice // element id → slices
	blocked map[int]bool    // element ids whose component must not be pruned
	// producer is the producing layer of an element's Out slices.
	producer map[int]string
	d        *DepGraph
}

// channels is the channel count of a value, or -1 when the value is not tracked.
func (b *builder) channels(v string) int {
	if _, ok := b.ix.base[v]; !ok {
		return -1
	}
	return b.shapes[v][1]
}

func (b *builder) blockValue(v string) {
	if c := b.channels(v); c > 0 {
		for i := 0; i < c; i++ {
			id, _ := b.ix.id(v, i)
			b.blocked[id] = true
		}
	}
}

func (b *builder) unionValues(x, y string) bool {
	cx, cy := b.channels(x), b.channels(y)
	if cx < 0 || cx != cy {
		return false
	}
	for i := 0; i < cx; i++ {
		a, _ := b.ix.id(x, i)
		c, _ := b.ix.id(y, i)
		b.ix.union(a, c)
	}
	return true
}

func (b *builder) addSlice(v string, i int, s Slice) {
	id, _ := b.ix.id(v, i)
	b.slices[id] = append(b.slices[id], s)
}

func (b *builder) isParam(v string) bool {
	_, ok := b.g.Params[v]
	return ok
}

// Build analyses g and returns its dependency graph. It fails only when g's shapes are
// inconsistent; operators it does not understand make their channels unprunable.
func Build(g *graph.Graph) (*DepGraph, error) {
	shapes, err := inferShapes(g)
	if err != nil {
		return nil, err
	}
	b := &builder{g: g, shapes: shapes, slices: map[int][]Slice{}, blocked: map[int]bool{},
		producer: map[int]string{}, d: &DepGraph{g: g, shapes: shapes, channelGroup: map[string][]string{}}}
	b.ix.base = map[string]int{}
	addValue := func(v string) {
		if _, done := b.ix.base[v]; done || v == "" || b.isParam(v) {
			return
		}
		s, ok := shapes[v]
		if !ok || len(s) < 2 {
			return
		}
		b.ix.base[v] = len(b.ix.elems)
		for i := 0; i < s[1]; i++ {
			b.ix.elems = append(b.ix.elems, Elem{Value: v, Index: i})
		}
	}
	for _, in := range g.Inputs {
		addValue(in.Name)
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			addValue(o)
		}
	}
	b.ix.parent = make([]int, len(b.ix.elems))
	for i := range b.ix.parent {
		b.ix.parent[i] = i
	}
	for _, in := range g.Inputs {
		b.blockValue(in.Name)
	}
	for _, out := range g.Outputs {
		b.blockValue(out.Name)
	}
	for _, n := range g.Nodes {
		if !b.visit(n) {
			for _, v := range n.Inputs {
				b.blockValue(v)
			}
			for _, v := range n.Outputs {
				b.blockValue(v)
			}
		}
	}
	b.collect()
	return b.d, nil
}

// visit records the channel couplings of one node and reports whether it understood
// the node; when it did not, the caller blocks every channel the node touches.
func (b *builder) visit(n *graph.Node) bool {
	in := func(i int) string {
		if i < len(n.Inputs) {
			return n.Inputs[i]
		}
		return ""
	}
	x, y := in(0), ""
	if len(n.Outputs) > 0 {
		y = n.Outputs[0]
	}
	switch {
	case n.Op == "Constant":
		return true
	case n.Op == "BatchNormalization":
		if !b.unionValues(x, y) || len(n.Inputs) < 5 {
			return false
		}
		for i := 0; i < b.channels(y); i++ {
			for k := 1; k < 5; k++ {
				role := RoleOther
				if k == 1 {
					role = RoleBNScale
				}
				if b.isParam(in(k)) {
					b.addSlice(y, i, Slice{Param: in(k), Axis: 0, Index: i, Role: role})
				}
			}
		}
		for _, o := range n.Outputs[1:] {
			b.blockValue(o)
		}
		return true
	case n.Op == "Softmax" || n.Op == "LogSoftmax":
		return false
	case elementwiseUnary[n.Op], n.Op == "MaxPool", n.Op == "AveragePool",
		n.Op == "GlobalAveragePool", n.Op == "GlobalMaxPool":
		if !b.unionValues(x, y) {
			return false
		}
		for _, o := range n.Outputs[1:] {
			b.blockValue(o)
		}
		return true
	case elementwiseBinary[n.Op]:
		return b.visitBinary(n)
	case n.Op == "Conv":
		return b.visitConv(n)
	case n.Op == "Gemm" || n.Op == "MatMul":
		return b.visitDense(n)
	case n.Op == "Concat":
		return b.visitConcat(n)
	case n.Op == "Flatten" || n.Op == "Reshape":
		return b.visitFlatten(n)
	}
	return false
}

func (b *builder) visitBinary(n *graph.Node) bool {
	y := n.Outputs[0]
	cy := b.channels(y)
	if cy < 0 {
		return false
	}
	ry := len(b.shapes[y])
	for _, v := range n.Inputs {
		s, ok := b.shapes[v]
		if !ok {
			return false
		}
		axis := 1 - (ry - len(s)) // the channel axis of v after right-aligned broadcast
		if axis < 0 || s[axis] == 1 {
			continue // broadcast along channels: nothing to couple
		}
		if s[axis] != cy {
			return false
		}
		if b.isParam(v) {
			for i := 0; i < cy; i++ {
				b.addSlice(y, i, Slice{Param: v, Axis: axis, Index: i, Role: RoleOther})
			}
			continue
		}
		if !b.unionValues(v, y) {
			return false
		}
	}
	return true
}

func (b *builder) visitConv(n *graph.Node) bool {
	x, y := n.Inputs[0], n.Outputs[0]
	if len(n.Inputs) < 2 || !b.isParam(n.Inputs[1]) || b.channels(x) < 0 || b.channels(y) < 0 {
		return false
	}
	w := n.Inputs[1]
	bias := ""
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		if !b.isParam(n.Inputs[2]) {
			return false
		}
		bias = n.Inputs[2]
	}
	group := int(n.AttrInt("group", 1))
	cx, cy := b.channels(x), b.channels(y)
	out := func(i int) {
		b.addSlice(y, i, Slice{Param: w, Axis: 0, Index: i, Role: RoleOut})
		if bias != "" {
			b.addSlice(y, i, Slice{Param: bias, Axis: 0, Index: i, Role: RoleOther})
		}
		id, _ := b.ix.id(y, i)
		b.producer[id] = n.Name
	}
	switch {
	case group == 1:
		for i := 0; i < cy; i++ {
			out(i)
		}
		for i := 0; i < cx; i++ {
			b.addSlice(x, i, Slice{Param: w, Axis: 1, Index: i, Role: RoleIn})
		}
	case group == cx && cy == cx:
		// Depthwise: filter i reads only channel i, so the two are one unit.
		b.unionValues(x, y)
		for i := 0; i < cy; i++ {
			out(i)
		}
		b.d.depthwise = append(b.d.depthwise, n)
	default:
		return false
	}
	return true
}

func (b *builder) visitDense(n *graph.Node) bool {
	x, y := n.Inputs[0], n.Outputs[0]
	if len(n.Inputs) < 2 || !b.isParam(n.Inputs[1]) || len(b.shapes[x]) != 2 || b.channels(y) < 0 {
		return false
	}
	w := n.Inputs[1]
	inAxis, outAxis := 0, 1
	if n.Op == "Gemm" {
		if n.AttrInt("transA", 0) != 0 {
			return false
		}
		if n.AttrInt("transB", 0) == 1 {
			inAxis, outAxis = 1, 0
		}
	}
	bias := ""
	biasAxis := 0
	if n.Op == "Gemm" && len(n.Inputs) > 2 && n.Inputs[2] != "" {
		c := n.Inputs[2]
		if !b.isParam(c) {
			return false
		}
		s := b.g.Params[c].Shape
		switch {
		case len(s) == 1 && s[0] == b.channels(y) && s[0] > 1:
			bias = c
		case len(s) == 2 && s[0] == 1 && s[1] == b.channels(y) && s[1] > 1:
			bias, biasAxis = c, 1
		case b.g.Params[c].Len() == 1:
		default:
			return false
		}
	}
	for i := 0; i < b.channels(y); i++ {
		b.addSlice(y, i, Slice{Param: w, Axis: outAxis, Index: i, Role: RoleOut})
		if bias != "" {
			b.addSlice(y, i, Slice{Param: bias, Axis: biasAxis, Index: i, Role: RoleOther})
		}
		id, _ := b.ix.id(y, i)
		b.producer[id] = n.Name
	}
	for i := 0; i < b.channels(x); i++ {
		b.addSlice(x, i, Slice{Param: w, Axis: inAxis, Index: i, Role: RoleIn})
	}
	return true
}

func (b *builder) visitConcat(n *graph.Node) bool {
	y := n.Outputs[0]
	if b.channels(y) < 0 {
		return false
	}
	axis := int(n.AttrInt("axis", 1))
	if axis < 0 {
		axis += len(b.shapes[y])
	}
	if axis != 1 {
		for _, v := range n.Inputs {
			if !b.unionValues(v, y) {
				return false
			}
		}
		return true
	}
	off := 0
	for _, v := range n.Inputs {
		c := b.channels(v)
		if c < 0 {
			return false
		}
		for i := 0; i < c; i++ {
			a, _ := b.ix.id(v, i)
			o, _ := b.ix.id(y, off+i)
			b.ix.union(a, o)
		}
		off += c
	}
	return true
}

// visitFlatten couples channel c of a (N, C, H, W) input with the H*W features
// c*H*W … (c+1)*H*W-1 of the (N, C*H*W) output.
func (b *builder) visitFlatten(n *graph.Node) bool {
	x, y := n.Inputs[0], n.Outputs[0]
	sx, sy := b.shapes[x], b.shapes[y]
	if b.channels(x) < 0 || b.channels(y) < 0 || len(sy) != 2 {
		return false
	}
	if n.Op == "Flatten" && n.AttrInt("axis", 1) != 1 {
		return false
	}
	if len(sx) == 2 {
		return b.unionValues(x, y)
	}
	block := 1
	for _, d := range sx[2:] {
		block *= d
	}
	if sx[0] != sy[0] || sx[1]*block != sy[1] {
		return false
	}
	for c := 0; c < sx[1]; c++ {
		a, _ := b.ix.id(x, c)
		for k := 0; k < block; k++ {
			o, _ := b.ix.id(y, c*block+k)
			b.ix.union(a, o)
		}
	}
	if n.Op == "Reshape" {
		b.d.reshapes = append(b.d.reshapes, n)
	}
	return true
}

// collect turns the union-find components into units and the units into groups.
func (b *builder) collect() {
	comps := map[int][]int{}
	var roots []int
	for id := range b.ix.elems {
		r := b.ix.find(id)
		if _, ok := comps[r]; !ok {
			roots = append(roots, r)
		}
		comps[r] = append(comps[r], id)
	}
	type proto struct {
		key    string
		unit   Unit
		layers []string
		order  int // element id of the first element, for ordering within a group
	}
	byKey := map[string][]proto{}
	var keys []string
	for _, r := range roots {
		ids := comps[r]
		var u Unit
		blocked := false
		layerSet := map[string]bool{}
		hasOut := false
		values := map[string]bool{}
		for _, id := range ids {
			if b.blocked[id] {
				blocked = true
				break
			}
			u.Elems = append(u.Elems, b.ix.elems[id])
			values[b.ix.elems[id].Value] = true
			for _, s := range b.slices[id] {
				u.Slices = append(u.Slices, s)
				if s.Role == RoleOut {
					hasOut = true
				}
			}
			if p, ok := b.producer[id]; ok {
				layerSet[p] = true
			}
		}
		if blocked || !hasOut {
			continue
		}
		var vs []string
		for v := range values {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		key := fmt.Sprint(vs)
		if _, ok := byKey[key]; !ok {
			keys = append(keys, key)
		}
		var layers []string
		for _, n := range b.g.Nodes {
			if layerSet[n.Name] {
				layers = append(layers, n.Name)
			}
		}
		byKey[key] = append(byKey[key], proto{key: key, unit: u, layers: layers, order: ids[0]})
	}
	nodeOrder := map[string]int{}
	for i, n := range b.g.Nodes {
		nodeOrder[n.Name] = i
	}
	for _, k := range keys {
		ps := byKey[k]
		sort.Slice(ps, func(i, j int) bool { return ps[i].order < ps[j].order })
		gr := &Group{Name: ps[0].layers[0], Layers: ps[0].layers}
		for _, p := range ps {
			gr.Units = append(gr.Units, p.unit)
			for _, e := range p.unit.Elems {
				cg := b.d.channelGroup[e.Value]
				if cg == nil {
					cg = make([]string, b.shapes[e.Value][1])
					b.d.channelGroup[e.Value] = cg
				}
				cg[e.Index] = gr.Name
			}
		}
		b.d.Groups = append(b.d.Groups, gr)
	}
	sort.SliceStable(b.d.Groups, func(i, j int) bool {
		return nodeOrder[b.d.Groups[i].Name] < nodeOrder[b.d.Groups[j].Name]
	})
}
