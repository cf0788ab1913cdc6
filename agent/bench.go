package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/agent/probe"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Limits on benchmark parameters taken from commands.
const (
	MaxWarmupRuns = 1000
	MaxTimedRuns  = 100000
	MaxBatchSize  = 256
)

// benchSpec is one benchmark to run: which model file, how, and on what input.
type benchSpec struct {
	ModelPath   string  `json:"model_path"`
	Warmup      int     `json:"warmup"`
	Runs        int     `json:"runs"`
	Batch       int     `json:"batch"`
	Threads     int     `json:"threads"`
	SampleShape []int64 `json:"sample_shape,omitempty"`
	ProbeSeed   uint64  `json:"probe_seed"`
	// CgroupDir, set for a worker process, is the cgroup it joins before loading the
	// model.
	CgroupDir string `json:"cgroup_dir,omitempty"`
}

// validate checks the parameters, which come from commands on the wire.
func (s benchSpec) validate() error {
	switch {
	case s.ModelPath == "":
		return errors.New("benchmark: no model path")
	case s.Warmup < 0 || s.Warmup > MaxWarmupRuns:
		return fmt.Errorf("benchmark: warmup runs %d, want 0..%d", s.Warmup, MaxWarmupRuns)
	case s.Runs < 1 || s.Runs > MaxTimedRuns:
		return fmt.Errorf("benchmark: timed runs %d, want 1..%d", s.Runs, MaxTimedRuns)
	case s.Batch < 1 || s.Batch > MaxBatchSize:
		return fmt.Errorf("benchmark: batch size %d, want 1..%d", s.Batch, MaxBatchSize)
	case s.Threads < 1:
		return fmt.Errorf("benchmark: threads %d, want >= 1", s.Threads)
	}
	return nil
}

// layerTime is the mean forward time of one node over the timed runs.
type layerTime struct {
	Node string `json:"node"`
	Op   string `json:"op"`
	Mean int64  `json:"mean_ns"`
}

// benchResult is what a benchmark measured. Latencies are wall-clock times of single
// Run calls under whatever CPU limits the benchmark ran with.
type benchResult struct {
	Runs            int         `json:"runs"`
	P50             int64       `json:"p50_ns"`
	P95             int64       `json:"p95_ns"`
	P99             int64       `json:"p99_ns"`
	Mean            int64       `json:"mean_ns"`
	Latencies       []int64     `json:"latencies_ns,omitempty"`
	Layers          []layerTime `json:"layers,omitempty"`
	PeakRSS         uint64      `json:"peak_rss_bytes"`
	Checksum        string      `json:"output_checksum"`
	InferenceErrors int         `json:"inference_errors"`
	Threads         int         `json:"threads"`
	// Isolation says how the CPU limit was applied: "cgroup-v1", "cgroup-v2",
	// "process" (a worker without a cgroup) or "threads" (in the agent's process).
	Isolation string `json:"isolation"`
	// WorkerCPU and WorkerWall are the CPU time (user + system) and wall time of
	// the worker process, when the benchmark ran in one.
	WorkerCPU time.Duration `json:"worker_cpu_ns,omitempty"`
	// WorkerCgroup is the cgroup the worker process ran in, as /proc/self/cgroup
	// names it (the cpu controller's under v1).
	WorkerCgroup string        `json:"worker_cgroup,omitempty"`
	WorkerWall   time.Duration `json:"worker_wall_ns,omitempty"`
}

// runBenchmark loads the model and measures it: warm-up runs, timed runs at the batch
// size, per-layer mean times over the timed runs, peak RSS of this process, and the
// output checksum on the probe batch. A run that fails counts as an inference error;
// if every timed run fails it returns the last error.
func runBenchmark(ctx context.Context, spec benchSpec) (*benchResult, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(spec.ModelPath)
	if err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	m, err := loadModel(b, spec.Threads, spec.SampleShape)
	if err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	probeIn, err := probe.Batch(spec.ProbeSeed, m.sampleShape)
	if err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	x := benchInput(probeIn, spec.Batch)
	res := &benchResult{Threads: spec.Threads}
	var lastErr error
	for i := 0; i < spec.Warmup; i++ {
		if _, err := m.run(ctx, x); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("benchmark: %w", ctx.Err())
			}
			res.InferenceErrors++
			lastErr = err
		}
	}
	m.exec.ResetTimings()
	lat := make([]int64, 0, spec.Runs)
	for i := 0; i < spec.Runs; i++ {
		t0 := time.Now()
		_, err := m.run(ctx, x)
		d := time.Since(t0)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("benchmark: %w", ctx.Err())
			}
			res.InferenceErrors++
			lastErr = err
			continue
		}
		lat = append(lat, d.Nanoseconds())
	}
	if len(lat) == 0 {
		return nil, fmt.Errorf("benchmark: every timed run failed: %w", lastErr)
	}
	for _, t := range m.exec.Timings() {
		if t.Calls == 0 {
			continue
		}
		res.Layers = append(res.Layers, layerTime{Node: t.Node, Op: t.Op, Mean: t.Total.Nanoseconds() / int64(t.Calls)})
	}
	res.Runs = len(lat)
	res.Latencies = lat
	res.P50, res.P95, res.P99, res.Mean = percentiles(lat)
	outs, err := m.run(ctx, probeIn)
	if err != nil {
		return nil, fmt.Errorf("benchmark: probe batch: %w", err)
	}
	if res.Checksum, err = probe.OutputChecksum(outs); err != nil {
		return nil, fmt.Errorf("benchmark: %w", err)
	}
	res.PeakRSS = peakRSS()
	return res, nil
}

// benchInput is a batch of n samples cycled from the probe batch.
func benchInput(p *tensor.Tensor, n int) *tensor.Tensor {
	per := p.Len() / p.Shape[0]
	shape := append([]int{n}, p.Shape[1:]...)
	x := tensor.New(shape...)
	for i := 0; i < n; i++ {
		j := i % p.Shape[0]
		copy(x.Data[i*per:(i+1)*per], p.Data[j*per:(j+1)*per])
	}
	return x
}

// percentiles returns the nearest-rank p50, p95 and p99 and the mean of lat, which
// must not be empty.
func percentiles(lat []int64) (p50, p95, p99, mean int64) {
	s := slices.Clone(lat)
	slices.Sort(s)
	rank := func(p float64) int64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	var sum int64
	for _, v := range s {
		sum += v
	}
	return rank(0.50), rank(0.95), rank(0.99), sum / int64(len(s))
}

// peakRSS reads this process's peak resident set size (VmHWM) from
// /proc/self/status, or 0 when it is not available.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb * 1024
	}
	return 0
}
