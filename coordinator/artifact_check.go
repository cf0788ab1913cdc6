package coordinator

import (
	"bytes"
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/onnx"
)

// checkArtifact parses onnx and, when shape is given, checks that the model's first
// input takes samples of that shape (batch excluded; a dynamic dimension, -1 or 0,
// matches anything). Agents would refuse a variant whose manifest disagrees with
// its model; this catches it before anything is published.
func checkArtifact(b []byte, shape []int64) error {
	g, err := onnx.Read(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("artifact is not a model fleetprune can run: %w", err)
	}
	if len(shape) == 0 {
		return nil
	}
	if len(g.Inputs) == 0 {
		return fmt.Errorf("artifact: model has no inputs")
	}
	in := g.Inputs[0]
	if len(in.Shape) != len(shape)+1 {
		return fmt.Errorf("artifact: input %q has shape %v, want a batch dimension and %v", in.Name, in.Shape, shape)
	}
	for i, d := range shape {
		if got := in.Shape[i+1]; got > 0 && int64(got) != d {
			return fmt.Errorf("artifact: input %q has shape %v, want a batch dimension and %v (dimension %d differs)", in.Name, in.Shape, shape, i+1)
		}
	}
	return nil
}
