package graph

import "github.com/fleetprune/fleetprune/pruning/tensor"

// AttrKind is the type of a node attribute.
type AttrKind int

// Attribute kinds, mirroring the ONNX AttributeProto types the engine supports.
const (
	AttrInt AttrKind = iota + 1
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
	AttrTensor
)

// Attr is one node attribute; the field that matches Kind holds the value.
type Attr struct {
	Kind   AttrKind
	Int    int64
	Float  float32
	String string
	Ints   []int64
	Floats []float32
	Tensor *tensor.Tensor
}

func (a Attr) clone() Attr {
	c := a
	c.Ints = append([]int64(nil), a.Ints...)
	c.Floats = append([]float32(nil), a.Floats...)
	if a.Tensor != nil {
		c.Tensor = a.Tensor.Clone()
	}
	return c
}

// IntAttr builds an integer attribute.
func IntAttr(v int64) Attr { return Attr{Kind: AttrInt, Int: v} }

// FloatAttr builds a float attribute.
func FloatAttr(v float32) Attr { return Attr{Kind: AttrFloat, Float: v} }

// StringAttr builds a string attribute.
func StringAttr(v string) Attr { return Attr{Kind: AttrString, String: v} }

// IntsAttr builds an integer-list attribute.
func IntsAttr(v ...int64) Attr { return Attr{Kind: AttrInts, Ints: v} }

// FloatsAttr builds a float-list attribute.
func FloatsAttr(v ...float32) Attr { return Attr{Kind: AttrFloats, Floats: v} }

// AttrInt returns the named integer attribute, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInt {
		return a.Int
	}
	return def
}

// AttrFloat returns the named float attribute, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrFloat {
		return a.Float
	}
	return def
}

// AttrString returns the named string attribute, or def when absent.
func (n *Node) AttrString(name, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrString {
		return a.String
	}
	return def
}

// AttrInts returns the named integer-list attribute, or def when absent.
func (n *Node) AttrInts(name string, def []int64) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInts {
		return a.Ints
	}
	return def
}

// SetAttr sets an attribute, allocating the map when needed.
func (n *Node) SetAttr(name string, a Attr) {
	if n.Attrs == nil {
		n.Attrs = map[string]Attr{}
	}
	n.Attrs[name] = a
}
