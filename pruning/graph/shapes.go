package graph

import "fmt"

// OutputShapes returns the inferred shape of every graph output for a batch size.
func (e *Executor) OutputShapes(batch int) (map[string][]int, error) {
	all, err := InferShapes(e.g, batch)
	if err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, o := range e.g.Outputs {
		out[o.Name] = all[o.Name]
	}
	return out, nil
}

// InferShapes returns the shape of every value of g (inputs, parameters, node outputs)
// when the dynamic dimensions of the inputs take the given batch size.
func InferShapes(g *Graph, batch int) (map[string][]int, error) {
	if batch < 1 {
		return nil, fmt.Errorf("graph: infer shapes: batch %d < 1", batch)
	}
	e, err := Compile(g)
	if err != nil {
		return nil, err
	}
	shapes := make([][]int, len(e.inputs))
	for i, v := range e.inputs {
		shapes[i] = concreteShape(g.Inputs[e.inputPos(v)].Shape, batch)
	}
	p, err := e.inferPlan(shapes)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]int, len(e.names))
	for i, name := range e.names {
		out[name] = p.shapes[i]
	}
	return out, nil
}
