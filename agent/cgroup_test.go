package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCPUQuotaLimitsBenchmarkWorker runs a real benchmark in a worker process placed
// in a cgroup with a CPU quota, and checks the kernel held it to the quota.
func TestCPUQuotaLimitsBenchmarkWorker(t *testing.T) {
	const quota = 0.1
	limit, err := newCPULimit("test-"+strconv.Itoa(os.Getpid()), quota)
	if errors.Is(err, ErrNoCgroupCPU) {
		t.Skipf("no writable cgroup CPU controller on this machine (needs root and cgroup v1 cpu or delegated v2): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := limit.Close(); err != nil {
			t.Error(err)
		}
	})
	model := filepath.Join(t.TempDir(), "lenet.onnx")
	if err := os.WriteFile(model, lenet(t, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := benchSpec{ModelPath: model, Warmup: 2, Runs: 60, Batch: 1, Threads: 1, SampleShape: []int64{1, 28, 28}, ProbeSeed: 3}
	w := workerRunner{argv: []string{os.Args[0]}, limit: limit}
	res, err := w.run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if want := limit.Isolation(); res.Isolation != want {
		t.Errorf("isolation %q, want %q", res.Isolation, want)
	}
	if res.Runs != 60 || res.P95 <= 0 || res.Threads != 1 || res.Checksum == "" {
		t.Errorf("result runs=%d p95=%d threads=%d checksum=%q", res.Runs, res.P95, res.Threads, res.Checksum)
	}
	share := res.WorkerCPU.Seconds() / res.WorkerWall.Seconds()
	t.Logf("worker used %v CPU in %v wall: %.3f cores under a %.2f-core quota; p50 %v p95 %v",
		res.WorkerCPU, res.WorkerWall, share, quota, time.Duration(res.P50), time.Duration(res.P95))
	if share > quota*1.3+0.03 {
		t.Errorf("worker used %.3f cores, quota is %.2f", share, quota)
	}
	if res.WorkerCgroup == "" || !strings.HasSuffix(limit.Dir, res.WorkerCgroup) {
		t.Errorf("worker ran in cgroup %q, want %s", res.WorkerCgroup, limit.Dir)
	}
	// The kernel's throttle counters are informative only: with few periods they
	// may not have moved yet.
	t.Logf("cgroup nr_throttled %d", cgroupStat(t, limit.Dir, "nr_throttled"))
}

func cgroupStat(t *testing.T, dir, key string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	t.Fatalf("%s/cpu.stat has no %s", dir, key)
	return 0
}

// TestAgentBenchmarksUnderCPUQuota runs the whole path: an agent with a CPU quota
// benchmarks in its worker process and reports.
func TestAgentBenchmarksUnderCPUQuota(t *testing.T) {
	if l, err := newCPULimit("probe-"+strconv.Itoa(os.Getpid()), 0.5); err != nil {
		t.Skipf("no writable cgroup CPU controller on this machine: %v", err)
	} else if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	a, stop := f.startAgent("quota-dev", t.TempDir(), WithCPUQuota(0.5), WithBenchWorker(os.Args[0]))
	f.waitRegistered(a)
	if got := a.Profile().GetCpuQuota(); got != 0.5 {
		t.Errorf("profile cpu quota %g, want 0.5", got)
	}
	if got := a.Profile().GetThreads(); got != 1 {
		t.Errorf("profile threads %d, want 1 (ceil of the quota)", got)
	}
	reps := f.reports("quota-dev")
	f.send("quota-dev", benchCmd("q1", f.goodVariant("v1", lenet(t, 0))))
	rep := reps.next(60 * time.Second)
	if rep.GetKind() != KindBenchmark || !rep.GetOk() || rep.GetP95Ns() <= 0 || rep.GetPeakRssBytes() == 0 {
		t.Fatalf("report = %v, want an ok benchmark", rep)
	}
	w, ok := a.runner.(workerRunner)
	if !ok || w.limit == nil {
		t.Fatalf("runner %T, want a worker in a cgroup", a.runner)
	}
	stop()
	if _, err := os.Stat(w.limit.Dir); err == nil {
		t.Errorf("cgroup %s left behind after the agent stopped", w.limit.Dir)
	}
}
