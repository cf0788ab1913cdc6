package graph

import (
	"fmt"
	"math/rand/v2"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// op is one compiled operator instance. An executor builds one instance per node for
// each input-shape plan, so an op may keep scratch buffers sized for that plan.
type op interface {
	// infer returns the output shapes for the given input shapes (nil for an omitted
	// optional input), or an error naming what does not fit.
	infer(in [][]int) ([][]int, error)
	// forward computes out from in. Output tensors are preallocated with the
	// inferred shapes; the op overwrites them.
	forward(r *runState, in, out []*tensor.Tensor)
	// backward adds the gradient of the loss with respect to each input into gIn[i],
	// given gOut. gIn[i] is nil when that input needs no gradient. It runs after a
	// training-mode forward on the same tensors.
	backward(r *runState, in, out, gOut, gIn []*tensor.Tensor)
}

// runState is what one forward or backward pass tells its operators.
type runState struct {
	training bool
	// constant: the weights did not change since the previous run (WithConstantWeights).
	constant bool
	// winograd lets Conv run its eligible 3×3 convolutions as Winograd F(2×2, 3×3)
	// (with constant weights, at inference; see WithWinograd).
	winograd bool
	// forceWino skips the timing and takes Winograd wherever it is allowed (tests).
	forceWino bool
	threads   int
	// alone keeps one sample's convolution kernels on the calling goroutine instead
	// of sharing their chunks with the helpers (see Executor.pickSharing).
	alone bool
	rng   *rand.Rand
	ws    *workspace
	// overwrite[i] tells backward to write gIn[i] outright (it is the first writer
	// and the executor did not clear it); see gradOverwriter.
	overwrite []bool
}

// kernelThreads is the thread cap of one sample's convolution kernels (kernels'
// shared helpers): the executor's threads, or 1 when it runs them alone.
func (r *runState) kernelThreads() int {
	if r.alone {
		return 1
	}
	return r.threads
}

// overwrites reports whether backward should overwrite gIn[i] instead of adding to it.
func (r *runState) overwrites(i int) bool { return i < len(r.overwrite) && r.overwrite[i] }

// opCtx gives an op factory the compile-time facts it may need.
type opCtx struct {
	opset int64
	// constant returns the value of a parameter or Constant output, or nil when name
	// is computed at run time.
	constant func(name string) *tensor.Tensor
}

type opFactory func(n *Node, c *opCtx) (op, error)

// registry maps ONNX operator types to their factories.
var registry = map[string]opFactory{}

func register(opType string, f opFactory) { registry[opType] = f }

// SupportedOp reports whether the engine runs the ONNX operator type. Shape, Gather,
// Unsqueeze, Squeeze and Cast count as supported inside a Reshape shape computation
// that Compile folds to a constant (see FoldShapes).
func SupportedOp(opType string) bool {
	_, ok := registry[opType]
	return ok || foldOnlyOps[opType]
}

// foldOnlyOps run only by being folded away (FoldShapes).
var foldOnlyOps = map[string]bool{"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Cast": true}

// errorf builds an op-level error; the executor prefixes the node.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// wantInputs checks the count of present inputs of a node.
func wantInputs(n *Node, min, max int) error {
	if len(n.Inputs) < min || len(n.Inputs) > max {
		if min == max {
			return errorf("want %d inputs, got %d", min, len(n.Inputs))
		}
		return errorf("want %d to %d inputs, got %d", min, max, len(n.Inputs))
	}
	for i := 0; i < min; i++ {
		if n.Inputs[i] == "" {
			return errorf("required input %d is empty", i)
		}
	}
	return nil
}

// elementwise is the shared shape rule of unary ops: one output shaped like input 0.
func sameShape(in [][]int) ([][]int, error) {
	if in[0] == nil {
		return nil, errorf("missing input")
	}
	return [][]int{append([]int(nil), in[0]...)}, nil
}

// accumulate adds src into dst element-wise.
func accumulate(dst, src []float32) {
	kernels.Axpy(1, src, dst)
}
