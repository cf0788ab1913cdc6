// Package graph is the model IR of the engine and its executor: a DAG of ONNX-style
// nodes over named float32 tensors with parameters held by name, compiled (Compile)
// into an Executor that runs inference (Run), training passes (Forward, Backward,
// Grads) and per-node timing.
package graph

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// DynamicDim marks a dimension not known until run time (the batch dimension).
const DynamicDim = -1

// Value is a named graph input or output with its shape; a dimension may be DynamicDim.
type Value struct {
	Name  string
	Shape []int
}

// Node is one operator application. Op is the ONNX operator type ("Conv", "Gemm", ...).
// An empty string in Inputs marks an omitted optional input, as in ONNX.
type Node struct {
	Name    string
	Op      string
	Inputs  []string
	Outputs []string
	Attrs   map[string]Attr
}

// Graph is a model: nodes in topological order, graph inputs and outputs, and
// parameters (initializers) by name. Opset is the ONNX default-domain opset version the
// graph was read with or will be written as.
type Graph struct {
	Name    string
	Nodes   []*Node
	Inputs  []Value
	Outputs []Value
	Params  map[string]*tensor.Tensor
	Opset   int64
	// Doc is free text carried through ONNX's doc_string.
	Doc string
}

// New returns an empty graph with the given name and opset.
func New(name string, opset int64) *Graph {
	return &Graph{Name: name, Params: map[string]*tensor.Tensor{}, Opset: opset}
}

// Node returns the node with the given name, or nil.
func (g *Graph) Node(name string) *Node {
	for _, n := range g.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Producer returns the node that writes the value, or nil for a graph input or
// parameter.
func (g *Graph) Producer(value string) *Node {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == value {
				return n
			}
		}
	}
	return nil
}

// Consumers returns the nodes that read the value, in graph order.
func (g *Graph) Consumers(value string) []*Node {
	var out []*Node
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == value {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// Clone returns a deep copy: nodes, attributes and parameter tensors.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name, Opset: g.Opset, Doc: g.Doc, Params: make(map[string]*tensor.Tensor, len(g.Params))}
	for _, v := range g.Inputs {
		c.Inputs = append(c.Inputs, Value{Name: v.Name, Shape: append([]int(nil), v.Shape...)})
	}
	for _, v := range g.Outputs {
		c.Outputs = append(c.Outputs, Value{Name: v.Name, Shape: append([]int(nil), v.Shape...)})
	}
	for k, t := range g.Params {
		c.Params[k] = t.Clone()
	}
	for _, n := range g.Nodes {
		cn := &Node{Name: n.Name, Op: n.Op, Inputs: append([]string(nil), n.Inputs...), Outputs: append([]string(nil), n.Outputs...)}
		if n.Attrs != nil {
			cn.Attrs = make(map[string]Attr, len(n.Attrs))
			for k, a := range n.Attrs {
				cn.Attrs[k] = a.clone()
			}
		}
		c.Nodes = append(c.Nodes, cn)
	}
	return c
}

// Validate checks structural soundness: unique node and value names, every input
// defined before use (topological order), outputs produced. It returns an error that
// names the node at fault.
func (g *Graph) Validate() error {
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for k := range g.Params {
		defined[k] = true
	}
	names := map[string]bool{}
	for i, n := range g.Nodes {
		if n.Name == "" {
			return fmt.Errorf("graph %q: node %d (%s) has no name", g.Name, i, n.Op)
		}
		if names[n.Name] {
			return fmt.Errorf("graph %q: duplicate node name %q", g.Name, n.Name)
		}
		names[n.Name] = true
		for _, in := range n.Inputs {
			if in != "" && !defined[in] {
				return fmt.Errorf("graph %q: node %q (%s) reads %q before it is defined", g.Name, n.Name, n.Op, in)
			}
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if defined[o] {
				return fmt.Errorf("graph %q: node %q (%s) redefines value %q", g.Name, n.Name, n.Op, o)
			}
			defined[o] = true
		}
	}
	for _, o := range g.Outputs {
		if !defined[o.Name] {
			return fmt.Errorf("graph %q: output %q is never produced", g.Name, o.Name)
		}
	}
	return nil
}
