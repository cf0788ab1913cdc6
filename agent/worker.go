package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// BenchWorkerEnv is set to "1" in the environment of a benchmark worker process.
const BenchWorkerEnv = "FLEETPRUNE_BENCH_WORKER"

// maxWorkerOutput bounds what the agent reads from a worker's stdout and stderr.
const (
	maxWorkerOutput = 16 << 20
	maxWorkerStderr = 8 << 10
)

// ServeBenchWorker is the body of a benchmark worker process (`fleetprune agent
// bench-worker`): it reads one JSON benchmark spec from r, moves the process into the
// spec's cgroup if one is named, limits GOMAXPROCS to the spec's threads, runs the
// benchmark and writes the JSON result to w. The agent starts it so that a CPU quota
// applies to the benchmark alone, and reads the worker's peak RSS from its rusage.
func ServeBenchWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	var spec benchSpec
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("bench worker: decode spec: %w", err)
	}
	if err := spec.validate(); err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	if spec.CgroupDir != "" {
		if err := joinCgroup(spec.CgroupDir); err != nil {
			return fmt.Errorf("bench worker: %w", err)
		}
	}
	runtime.GOMAXPROCS(spec.Threads)
	res, err := runBenchmark(ctx, spec)
	if err != nil {
		return fmt.Errorf("bench worker: %w", err)
	}
	cg := hostFS{root: "/"}.cgroups()
	res.WorkerCgroup = cg.v1["cpu"]
	if res.WorkerCgroup == "" {
		res.WorkerCgroup = cg.v2
	}
	if err := json.NewEncoder(w).Encode(res); err != nil {
		return fmt.Errorf("bench worker: write result: %w", err)
	}
	return nil
}

// RunBenchWorkerIfRequested serves one benchmark and exits the process when it was
// started as a benchmark worker (BenchWorkerEnv is "1"); otherwise it returns at once.
// Test binaries that run agents with a CPU quota call it first in TestMain, since the
// agent re-executes its own binary as the worker.
func RunBenchWorkerIfRequested() {
	if os.Getenv(BenchWorkerEnv) != "1" {
		return
	}
	if err := ServeBenchWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// benchRunner runs a benchmark somewhere: in this process or in a worker process.
type benchRunner interface {
	run(ctx context.Context, spec benchSpec) (*benchResult, error)
}

// inProcessRunner benchmarks in the agent's own process, limited to the engine's
// thread count only.
type inProcessRunner struct{}

func (inProcessRunner) run(ctx context.Context, spec benchSpec) (*benchResult, error) {
	res, err := runBenchmark(ctx, spec)
	if err != nil {
		return nil, err
	}
	res.Isolation = "threads"
	return res, nil
}

// workerRunner benchmarks in a child process started from argv, placed in limit's
// cgroup when limit is not nil.
type workerRunner struct {
	argv  []string
	limit *cpuLimit
}

func (w workerRunner) run(ctx context.Context, spec benchSpec) (*benchResult, error) {
	if w.limit != nil {
		spec.CgroupDir = w.limit.Dir
	}
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("bench worker: encode spec: %w", err)
	}
	cmd := exec.CommandContext(ctx, w.argv[0], w.argv[1:]...)
	cmd.Env = append(os.Environ(), BenchWorkerEnv+"=1")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr limitedBuffer
	stdout.limit, stderr.limit = maxWorkerOutput, maxWorkerStderr
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	err = cmd.Run()
	wall := time.Since(t0)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("bench worker: %w", ctx.Err())
		}
		return nil, fmt.Errorf("bench worker %s: %w: %s", w.argv[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	if stdout.truncated {
		return nil, fmt.Errorf("bench worker: result larger than %d bytes", maxWorkerOutput)
	}
	var res benchResult
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("bench worker: decode result: %w", err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		// Linux reports ru_maxrss in KiB.
		res.PeakRSS = max(res.PeakRSS, uint64(ru.Maxrss)*1024)
	}
	res.WorkerCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	res.WorkerWall = wall
	res.Isolation = "process"
	if w.limit != nil {
		res.Isolation = w.limit.Isolation()
	}
	return &res, nil
}

// limitedBuffer keeps at most limit bytes and notes whether more were written.
type limitedBuffer struct {
	bytes.Buffer
	limit     int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if room := b.limit - b.Len(); len(p) > room {
		p = p[:max(room, 0)]
		b.truncated = true
	}
	b.Buffer.Write(p)
	return n, nil
}
