package graph

import "runtime"

// Option configures an Executor at Compile.
type Option func(*execConfig)

// DefaultSeed seeds the executor's random stream (Dropout masks) when WithSeed is not
// given.
const DefaultSeed = 1

type execConfig struct {
	threads     int
	timing      bool
	training    bool
	sparse      bool
	forceSparse bool
	constant    bool
	noWinograd  bool
	forceWino   bool
	seed        uint64
}

func defaultExecConfig() execConfig {
	return execConfig{threads: runtime.GOMAXPROCS(0), seed: DefaultSeed}
}

// WithThreads sets how many goroutines an operator may fan out to; n < 1 means
// runtime.GOMAXPROCS(0), the default. Results do not depend on n. The GEMM kernels
// inside an operator fan out on their own, capped process-wide by
// kernels.SetMaxThreads; the batch-1 convolution kernels, which share their work with
// spinning helper goroutines, also within n (an agent benchmarking as a one-thread
// device gets no helper).
func WithThreads(n int) Option {
	return func(c *execConfig) {
		if n < 1 {
			n = runtime.GOMAXPROCS(0)
		}
		c.threads = n
	}
}

// WithTiming turns on per-node timing of Run (forward only); read it with
// Executor.Timings. Timing adds two clock reads per node.
func WithTiming(on bool) Option { return func(c *execConfig) { c.timing = on } }

// WithTraining enables Forward and Backward: the executor then keeps activations and
// gradient buffers. Without it only Run (inference) is allowed.
func WithTraining(on bool) Option { return func(c *execConfig) { c.training = on } }

// WithSeed seeds the executor's random stream, used for Dropout masks in training.
func WithSeed(seed uint64) Option { return func(c *execConfig) { c.seed = seed } }

// WithSparse lets Compile run a Gemm, MatMul or Conv whose constant weight is at least
// SparseMinZeros zeros through a CSR kernel, when timing both on a batch-1 sample
// shows the sparse form faster; the first Run at another batch size times both again
// for that size. The sparse form snapshots the weights at Compile, so
// compile again after changing them; training-mode Forward always runs dense. The
// graph itself (and the ONNX written from it) stays dense.
func WithSparse(on bool) Option { return func(c *execConfig) { c.sparse = on } }

// WithConstantWeights promises that the graph's parameters do not change after
// Compile, as in a deployed model: Conv then packs its filters for the GEMM kernel
// (with a fused BatchNormalization's scale folded in) at the first Run instead of at
// every Run, as ONNX Runtime prepacks weights when it loads a model, and Run binds
// the parameter tensors once per input shape instead of looking each one up every
// time. On two or more threads, the first batch-1 run also times whole runs with the
// convolutions sharing the helper goroutines and alone, and keeps the faster (a pruned
// model's small convolutions may split for less than the split costs). Like
// WithSparse, it snapshots the weights: compile again after changing or replacing
// them. Training-mode Forward ignores it.
func WithConstantWeights(on bool) Option { return func(c *execConfig) { c.constant = on } }

// WithWinograd lets Conv run ungrouped 3×3 stride-1 convolutions (of 4 input
// channels or more) as Winograd's F(2×2, 3×3), 16 multiplies per 2×2 outputs and
// channel instead of 36, where that is faster (on by default). It applies only with
// WithConstantWeights, at inference: the filters are transformed once. The first Run
// of each input shape times both routes of each such convolution, alternating (up to
// about 20ms each at large batches), and keeps the faster. Results differ from the
// direct route by rounding only (about 1e-6 relative).
func WithWinograd(on bool) Option { return func(c *execConfig) { c.noWinograd = !on } }

// SparseMinZeros is the zero fraction from which WithSparse considers a weight.
const SparseMinZeros = 0.5

// withForcedWinograd skips pickWinograd's timing and runs every eligible convolution
// as Winograd (tests).
func withForcedWinograd() Option { return func(c *execConfig) { c.forceWino = true } }

// withForcedSparse skips the timing and takes every eligible sparse form (tests).
func withForcedSparse() Option { return func(c *execConfig) { c.sparse, c.forceSparse = true, true } }
