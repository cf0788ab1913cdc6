// Package ortparity runs ONNX models in ONNX Runtime (the npm package
// onnxruntime-node, driven by node) so tests can compare the engine's outputs with
// ORT's, check that an exported model loads, and time ORT inference.
package ortparity

import (
	"bytes"
	"context"
	_ "embed" // the node runner script
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

//go:embed runner.js
var runnerJS string

// EnvORTDir overrides where onnxruntime-node is looked for: a folder holding
// node_modules/onnxruntime-node (like the repository's .ort/) or the package itself.
const EnvORTDir = "FLEETPRUNE_ORT_DIR"

// DefaultTimeout bounds one call when the caller's context has no deadline.
const DefaultTimeout = 2 * time.Minute

// ErrUnavailable is returned when node or onnxruntime-node is missing; install them
// with scripts/install-ort.sh.
var ErrUnavailable = errors.New("ONNX Runtime unavailable")

// Config tunes a call; the zero value runs once on one thread.
type Config struct {
	// Threads is ORT's intra-op thread count (0 means 1).
	Threads int
	// Warmup runs before the timed ones, Iters timed runs (0 means one untimed run).
	Warmup, Iters int
}

// Result is what ORT returned.
type Result struct {
	// Outputs by name, float32.
	Outputs map[string]*tensor.Tensor
	// Latencies of the Iters timed runs (session.run only), empty when Iters is 0.
	Latencies []time.Duration
}

// Available reports whether node and onnxruntime-node can be found; the error wraps
// ErrUnavailable and says how to install them.
func Available() error {
	_, _, err := locate()
	return err
}

// locate finds the node binary and the onnxruntime-node package folder.
func locate() (node, pkg string, err error) {
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", fmt.Errorf("ortparity: %w: node not on PATH (install nodejs, then run scripts/install-ort.sh)", ErrUnavailable)
	}
	var candidates []string
	if d := os.Getenv(EnvORTDir); d != "" {
		candidates = append(candidates, filepath.Join(d, "node_modules", "onnxruntime-node"), d)
	} else if wd, err := os.Getwd(); err == nil {
		// Walk up to the repository root, which holds .ort/ (tests run in a package folder).
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, ".ort", "node_modules", "onnxruntime-node"))
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil || filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "package.json")); err == nil {
			abs, err := filepath.Abs(c)
			if err != nil {
				return "", "", fmt.Errorf("ortparity: %w", err)
			}
			return node, abs, nil
		}
	}
	return "", "", fmt.Errorf("ortparity: %w: onnxruntime-node not found in %v (run scripts/install-ort.sh, or set %s)", ErrUnavailable, candidates, EnvORTDir)
}

type ioFile struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape,omitempty"`
	File  string `json:"file,omitempty"`
}

type request struct {
	ORT     string   `json:"ort"`
	Mode    string   `json:"mode"`
	Model   string   `json:"model"`
	Threads int      `json:"threads"`
	Warmup  int      `json:"warmup"`
	Iters   int      `json:"iters"`
	Inputs  []ioFile `json:"inputs"`
	OutDir  string   `json:"outDir"`
}

type reply struct {
	Error       string    `json:"error"`
	Inputs      []string  `json:"inputs"`
	Outputs     []ioFile  `json:"outputs"`
	LatenciesMs []float64 `json:"latenciesMs"`
}

// Run runs the model at modelPath in ONNX Runtime on the given float32 inputs and
// returns its outputs (see Config for threads and timing). Errors wrap ErrUnavailable
// when ORT is missing; otherwise they carry ORT's message (a model ORT cannot load or
// run).
func Run(ctx context.Context, modelPath string, inputs map[string]*tensor.Tensor, cfg Config) (*Result, error) {
	if cfg.Threads < 0 || cfg.Warmup < 0 || cfg.Iters < 0 {
		return nil, fmt.Errorf("ortparity: negative threads, warmup or iters in %+v", cfg)
	}
	tmp, err := os.MkdirTemp("", "ortparity-")
	if err != nil {
		return nil, fmt.Errorf("ortparity: %w", err)
	}
	defer os.RemoveAll(tmp)
	req := request{Mode: "run", Model: modelPath, Threads: cfg.Threads, Warmup: cfg.Warmup, Iters: cfg.Iters, OutDir: tmp}
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, name := range names {
		f := filepath.Join(tmp, fmt.Sprintf("in%d.f32", i))
		if err := writeF32(f, inputs[name]); err != nil {
			return nil, err
		}
		req.Inputs = append(req.Inputs, ioFile{Name: name, Shape: inputs[name].Shape, File: f})
	}
	rep, err := call(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &Result{Outputs: map[string]*tensor.Tensor{}}
	for _, o := range rep.Outputs {
		t, err := readF32(o.File, o.Shape)
		if err != nil {
			return nil, err
		}
		res.Outputs[o.Name] = t
	}
	for _, ms := range rep.LatenciesMs {
		res.Latencies = append(res.Latencies, time.Duration(ms*float64(time.Millisecond)))
	}
	return res, nil
}

// Load checks that ONNX Runtime loads the model at modelPath and returns its input and
// output names.
func Load(ctx context.Context, modelPath string) (inputs, outputs []string, err error) {
	rep, err := call(ctx, request{Mode: "load", Model: modelPath})
	if err != nil {
		return nil, nil, err
	}
	for _, o := range rep.Outputs {
		outputs = append(outputs, o.Name)
	}
	return rep.Inputs, outputs, nil
}

func call(ctx context.Context, req request) (*reply, error) {
	node, pkg, err := locate()
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(req.Model); err == nil {
		req.Model = abs
	}
	if _, err := os.Stat(req.Model); err != nil {
		return nil, fmt.Errorf("ortparity: %w", err)
	}
	req.ORT = pkg
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("ortparity: %w", err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, node, "-e", runnerJS)
	cmd.Stdin = bytes.NewReader(body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var rep reply
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return nil, fmt.Errorf("ortparity: %s: node runner failed (%v): %s", req.Model, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	if rep.Error != "" {
		return nil, fmt.Errorf("ortparity: %s: onnxruntime: %s", req.Model, rep.Error)
	}
	if runErr != nil {
		return nil, fmt.Errorf("ortparity: %s: %w: %s", req.Model, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	return &rep, nil
}

func writeF32(path string, t *tensor.Tensor) error {
	b := make([]byte, 4*len(t.Data))
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("ortparity: %w", err)
	}
	return nil
}

func readF32(path string, shape []int) (*tensor.Tensor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ortparity: %w", err)
	}
	for _, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("ortparity: output shape %v", shape)
		}
	}
	if len(b) != 4*tensor.Size(shape) {
		return nil, fmt.Errorf("ortparity: output %s: %d bytes for shape %v", path, len(b), shape)
	}
	d := make([]float32, len(b)/4)
	for i := range d {
		d[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return tensor.FromData(d, shape...), nil
}
