package stack_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/rollouts"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/stack"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"github.com/fleetprune/fleetprune/pruning/train"
	"github.com/fleetprune/fleetprune/rollout"
)

func TestMain(m *testing.M) {
	// Agents with a CPU quota benchmark in a worker process: this test binary.
	agent.RunBenchWorkerIfRequested()
	os.Exit(m.Run())
}

var (
	baseOnce  sync.Once
	baseBytes []byte
	baseGraph *graph.Graph
	baseErr   error
)

// baseModel trains a small LeNet-5 on part of MNIST once per test binary and returns
// its ONNX bytes.
func baseModel(t *testing.T) ([]byte, *graph.Graph) {
	t.Helper()
	baseOnce.Do(func() { baseBytes, baseGraph, baseErr = trainBase() })
	if baseErr != nil {
		t.Fatal(baseErr)
	}
	return baseBytes, baseGraph
}

func trainBase() ([]byte, *graph.Graph, error) {
	ctx := context.Background()
	trainSet, err := data.Load("mnist", "train")
	if err != nil {
		return nil, nil, err
	}
	g, err := models.Build("lenet-5", 7)
	if err != nil {
		return nil, nil, err
	}
	sub := trainSet.Subset("mnist/sub", data.Permutation(trainSet.Len(), 7)[:6000])
	if _, err := train.Fit(ctx, g, sub, nil, train.Config{Epochs: 1, LR: 0.01, Optimizer: train.SGD, Seed: 7}); err != nil {
		return nil, nil, err
	}
	b, err := onnx.Marshal(g)
	return b, g, err
}

// measureP95 times g at batch 1 on one thread, as a one-thread agent would.
func measureP95(t *testing.T, g *graph.Graph) time.Duration {
	t.Helper()
	ex, err := graph.Compile(g, graph.WithThreads(1))
	if err != nil {
		t.Fatal(err)
	}
	x := map[string]*tensor.Tensor{g.Inputs[0].Name: tensor.New(1, 1, 28, 28)}
	// The least p95 of five rounds: the test's other packages build and run at the
	// same time, and one busy round once set the SLOs so loose that the base model met
	// the tight class's SLO.
	best := time.Duration(math.MaxInt64)
	for range 5 {
		var times []time.Duration
		for i := 0; i < 120; i++ {
			t0 := time.Now()
			if _, err := ex.Run(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if i >= 20 {
				times = append(times, time.Since(t0))
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		best = min(best, times[len(times)*95/100])
	}
	return best
}

func testStack(t *testing.T, nodes int) (*stack.Stack, []*stack.Node) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	gate := agent.NewBenchGate(1)
	cc := coordinator.DefaultConfig()
	cc.LeaseTTL = 2 * time.Second
	cc.HeartbeatInterval = 500 * time.Millisecond
	cc.StaleAfter = 3 * time.Second
	cc.PresenceFlush = 200 * time.Millisecond
	s, err := stack.Start(ctx, stack.Config{
		Dir:         t.TempDir(),
		EtcdNoFsync: true,
		Coordinator: cc,
		Workbench:   tuner.WorkbenchConfig{FineTuneSamples: 3000, EvalSamples: 1000, SensitivitySamples: 500, Seed: 3, CPU: gate},
		Tuner:       tuner.Config{WarmupRuns: 10, TimedRuns: 300, Poll: 100 * time.Millisecond, ReportTimeout: time.Minute},
		// Three slow reports in a row fail a gate on latency: the test's other packages
		// once slowed a fast device twice in a row; the 0.1-core device is slow every time.
		Rollouts: rollouts.Config{Plan: rollout.Plan{Stages: []float64{34, 67, 100}, BakeTime: profiles.Duration(500 * time.Millisecond), MinReports: 1, LatencyConfirmations: 3},
			WarmupRuns: 10, TimedRuns: 300, Poll: 200 * time.Millisecond, SyncEvery: 5 * time.Second},
		Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var ns []*stack.Node
	for i := 0; i < nodes; i++ {
		n, err := s.StartNode(ctx, fmt.Sprintf("c%d", i+1), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	sharedGate = gate
	return s, ns
}

// sharedGate serializes benchmarks of all local agents and the coordinator's
// fine-tuning, so that one does not steal the other's cores.
var sharedGate *agent.BenchGate

func applyFleet(t *testing.T, n *stack.Node, onnxBytes []byte, classes string) {
	t.Helper()
	ctx := context.Background()
	var addr string
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" && time.Now().Before(deadline) {
		addr = n.APIAddr()
		time.Sleep(10 * time.Millisecond)
	}
	cl, err := coordinator.NewClient("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	var art *coordinator.ArtifactResult
	for time.Now().Before(deadline) {
		if art, err = cl.UploadArtifact(ctx, onnxBytes); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("upload base model: %v", err)
	}
	doc := fmt.Sprintf(`models:
  - name: lenet5
    digest: %s
    dataset: mnist
    inputShape: [1, 28, 28]
classes:
%s`, art.SHA256, classes)
	if _, err := cl.Apply(ctx, []byte(doc)); err != nil {
		t.Fatalf("apply: %v\n%s", err, doc)
	}
}

func startAgent(t *testing.T, s *stack.Stack, id string, labels map[string]string, opts ...agent.Option) *stack.Agent {
	t.Helper()
	all := append([]agent.Option{agent.WithLabels(labels), agent.WithThreads(1), agent.WithBenchGate(sharedGate),
		agent.WithHeartbeatInterval(500 * time.Millisecond)}, opts...)
	a, err := s.StartAgent(context.Background(), id, all...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func tuningState(t *testing.T, s *stack.Stack, class string) *tuning.State {
	t.Helper()
	cli, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	st, _, err := tuner.LoadState(context.Background(), cli, class)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func waitVerdict(t *testing.T, s *stack.Stack, class string, timeout time.Duration) *tuning.State {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var st *tuning.State
	for time.Now().Before(deadline) {
		st = tuningState(t, s, class)
		if st != nil && st.Phase == tuning.PhaseDone {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("class %s: no verdict within %v; state %+v", class, timeout, st)
	return nil
}

func record(st *tuning.State, id string) *tuning.Record {
	if st.Base != nil && st.Base.VariantID == id {
		return st.Base
	}
	for i := range st.Trials {
		if st.Trials[i].VariantID == id {
			return &st.Trials[i]
		}
	}
	return nil
}

func waitInstalled(t *testing.T, s *stack.Stack, devices []string, variant string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got []string
	for time.Now().Before(deadline) {
		n, err := s.WaitLeader(context.Background(), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		devs, err := n.Coordinator.Devices(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		ok := 0
		for _, d := range devs {
			running := d.InstalledVariant
			if d.HeartbeatVariant != "" {
				running = d.HeartbeatVariant
			}
			for _, want := range devices {
				if d.ID == want {
					got = append(got, d.ID+"="+running)
					if running == variant {
						ok++
					}
				}
			}
		}
		if ok == len(devices) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("devices %v do not all run %s after %v: %s", devices, variant, timeout, strings.Join(got, ", "))
}
