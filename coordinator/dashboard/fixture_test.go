package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
	"github.com/fleetprune/fleetprune/rollout"
)

// fleetYAML declares the fleet the tests show: two classes of one base model.
const fleetYAML = `
apiVersion: fleetprune.dev/v1
kind: Fleet
models:
  - name: lenet5-mnist
    digest: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
    dataset: mnist
    arch: lenet5
    inputShape: [1, 28, 28]
    accuracy: 98.9
classes:
  - name: edge
    selector: "cores>=2"
    priority: 20
    channelMultiple: 8
    baseModel: lenet5-mnist
    slo:
      p95Latency: 2ms
      maxAccuracyDrop: 1
  - name: tiny
    selector: ""
    baseModel: lenet5-mnist
    slo:
      p95Latency: 8ms
      maxAccuracyDrop: 2.5
      maxModelBytes: 256KiB
`

// fixture is a real etcd with the fleet's state written through the real packages,
// and a leader's fence to write with.
type fixture struct {
	cli       *clientv3.Client
	endpoints []string
	fence     profiles.Fence
	store     *profiles.Store
	rollouts  *rollout.Store
	actions   *fencedActions
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := testutil.EtcdServer(t)
	cli := testutil.EtcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(10))
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Cleanup(func() { _ = sess.Close() })
	el := concurrency.NewElection(sess, profiles.LeaderPrefix)
	if err := el.Campaign(ctx, "test-leader"); err != nil {
		t.Fatalf("campaign: %v", err)
	}
	fx := &fixture{cli: cli, endpoints: srv.Endpoints(), fence: profiles.ElectionFence(el), store: profiles.NewStore(cli), rollouts: rollout.NewStore(cli)}
	fx.actions = &fencedActions{cli: cli, fence: fx.fence, rollouts: fx.rollouts}
	fx.seed(t, ctx)
	return fx
}

func (fx *fixture) seed(t testing.TB, ctx context.Context) {
	t.Helper()
	fleet, err := profiles.ParseFleet([]byte(fleetYAML))
	if err != nil {
		t.Fatalf("parse fleet: %v", err)
	}
	if err := fx.store.ApplyFleet(ctx, fx.fence, fleet); err != nil {
		t.Fatalf("apply fleet: %v", err)
	}
	now := time.Now().UTC()
	devices := []profiles.Device{
		{ID: "edge-1", Class: "edge", InstalledVariant: "edge-v1", RegisteredAt: now.Add(-time.Hour), LastSeen: now,
			Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 2, Threads: 2, MemoryBytes: 8 << 30, OS: "linux", SIMDFlags: []string{"avx2"}}},
		{ID: "edge-2", Class: "edge", InstalledVariant: "edge-v1", RegisteredAt: now.Add(-time.Hour), LastSeen: now,
			Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 4, Threads: 2, MemoryBytes: 8 << 30, OS: "linux"}},
		{ID: "edge-3", Class: "edge", RegisteredAt: now.Add(-2 * time.Hour), LastSeen: now.Add(-time.Hour),
			Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 2, Threads: 1, MemoryBytes: 4 << 30, OS: "linux"}},
		{ID: "tiny-1", Class: "tiny", RegisteredAt: now.Add(-time.Hour), LastSeen: now,
			Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 1, Threads: 1, CPUQuota: 0.5, MemoryBytes: 512 << 20, OS: "linux"}},
	}
	pres := profiles.NewPresence(fx.cli, time.Minute)
	for _, d := range devices {
		if err := fx.store.Devices.Put(ctx, fx.fence, d); err != nil {
			t.Fatalf("put device: %v", err)
		}
		if d.ID != "edge-3" {
			if err := pres.Touch(ctx, fx.fence, d.ID); err != nil {
				t.Fatalf("presence: %v", err)
			}
		}
	}
	for i, id := range []string{"edge-1", "edge-2", "tiny-1"} {
		variant := "edge-v1"
		if id == "tiny-1" {
			variant = "tiny-base"
		}
		rep := &fpv1.Report{DeviceId: id, Class: "edge", VariantId: variant, Kind: "benchmark", Ok: true, Runs: 200,
			P50Ns: int64(1100+100*i) * 1000, P95Ns: int64(1600+100*i) * 1000, P99Ns: int64(1900+100*i) * 1000,
			PeakRssBytes: 40 << 20, Seq: uint64(7 + i), MeasuredAt: timestamppb.New(now)}
		b, err := proto.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.fence.Commit(ctx, fx.cli, nil, clientv3.OpPut(view.LastReportPrefix+id, string(b))); err != nil {
			t.Fatalf("last report: %v", err)
		}
	}
	fx.putJSON(t, ctx, profiles.TuningKey("edge"), edgeTuning(now))
	fx.putJSON(t, ctx, profiles.TuningKey("tiny"), &tuning.State{Class: "tiny", Model: "lenet5-mnist", Generation: 2,
		Phase: tuning.PhaseMeasuring, Message: "probe cohort benchmarks tiny-g2-i1", RetuneReason: "rollout r0: stage 0 gate: device tiny-1: p95 9.1ms > slo 8ms",
		ProbeCohort: []string{"tiny-1"}, StartedAt: now.Add(-time.Minute), UpdatedAt: now,
		Pending: &tuning.Pending{VariantID: "tiny-g2-i1", Budget: 0.7, SentAt: now}})
	for i, id := range []string{"edge-v1", "edge-v2", "edge-v3"} {
		fx.putJSON(t, ctx, profiles.VariantKey("edge", id), &coordinator.Variant{Class: "edge", ID: id, Model: "lenet5-mnist",
			SHA256: fmt.Sprintf("%064x", i+1), SizeBytes: uint64(90000 - 10000*i), Object: fmt.Sprintf("%064x", i+1),
			CreatedAt: now.Add(time.Duration(i-10) * time.Minute), Manifest: []byte{1, 2}, Signature: []byte{3}})
	}
	fx.putJSON(t, ctx, view.SensitivityKey("lenet5-mnist"), sampleCurves())

	// r0 is an aborted rollout of the tiny class; r1 bakes its first stage in edge.
	slo := profiles.SLO{P95Latency: profiles.Duration(2 * time.Millisecond), MaxAccuracyDrop: 1}
	plan := rollout.Plan{Stages: []float64{25, 50, 100}, BakeTime: profiles.Duration(time.Minute), MinReports: 1}
	r0, err := rollout.New("r0", "tiny", "tiny-g1-i2", "", plan, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r0, _ = rollout.Next(r0, rollout.Observations{SLO: slo, Devices: []string{"tiny-1"}}, now.Add(-time.Hour))
	r0 = rollout.Executed(r0, now.Add(-time.Hour))
	if r0, err = rollout.Abort(r0, now.Add(-50*time.Minute), "wrong variant"); err != nil {
		t.Fatal(err)
	}
	r0 = rollout.Executed(r0, now.Add(-50*time.Minute))
	if _, err := fx.rollouts.Create(ctx, fx.fence, r0); err != nil {
		t.Fatalf("create r0: %v", err)
	}
	r1, err := rollout.New("r1", "edge", "edge-v1", "", plan, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	r1, _ = rollout.Next(r1, rollout.Observations{SLO: slo, Devices: []string{"edge-1", "edge-2"}}, now.Add(-time.Minute))
	r1 = rollout.Executed(r1, now.Add(-time.Minute))
	if r1.State != rollout.StateBaking {
		t.Fatalf("seed: r1 is %s, want baking", r1.State)
	}
	if _, err := fx.rollouts.Create(ctx, fx.fence, r1); err != nil {
		t.Fatalf("create r1: %v", err)
	}
}

func (fx *fixture) putJSON(t testing.TB, ctx context.Context, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.fence.Commit(ctx, fx.cli, nil, clientv3.OpPut(key, string(b))); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// edgeTuning is a finished tuning run: the base misses the 2 ms SLO, iteration 1
// meets it and is accepted, 2 is too slow, 3 too inaccurate.
func edgeTuning(now time.Time) *tuning.State {
	rec := func(it int, id string, budget float64, p95us int, acc float64, sparsity float64, macs int64) tuning.Record {
		return tuning.Record{Trial: tuning.Trial{Budget: budget, VariantID: id, P95: time.Duration(p95us) * time.Microsecond,
			AccuracyDrop: 98.9 - acc, ModelBytes: int64(float64(240000) * (1 - sparsity))},
			Iteration: it, Params: int64(61706 * (1 - sparsity)), MACs: macs, Accuracy: acc, Sparsity: sparsity,
			MeasuredAt: now.Add(time.Duration(it-5) * time.Minute)}
	}
	base := rec(0, "lenet5-mnist", 1, 3100, 98.9, 0, 416520)
	return &tuning.State{Class: "edge", Model: "lenet5-mnist", Generation: 1, Phase: tuning.PhaseDone,
		ProbeCohort: []string{"edge-1", "edge-2"}, Base: &base,
		Trials: []tuning.Record{
			rec(1, "edge-v1", 0.6, 1700, 98.3, 0.42, 240000),
			rec(2, "edge-v2", 0.8, 2300, 98.7, 0.21, 330000),
			rec(3, "edge-v3", 0.45, 1300, 97.4, 0.58, 175000),
		},
		Verdict: tuning.Met, Reason: "edge-v1 meets every limit with the least accuracy loss", Accepted: "edge-v1",
		StartedAt: now.Add(-10 * time.Minute), UpdatedAt: now, FinishedAt: now}
}

func sampleCurves() *sensitivity.Curves {
	c := &sensitivity.Curves{Version: sensitivity.FormatVersion, Model: "lenet5-mnist", Method: "structured",
		Criterion: "l1", Dataset: "mnist", Samples: 1000, Baseline: 98.9, Ratios: []float64{0.1, 0.3, 0.5, 0.7, 0.9}}
	for i, name := range []string{"conv1", "conv2", "fc1", "fc2"} {
		l := sensitivity.LayerCurve{Layer: name, Units: 6 + 10*i, Params: int64(1000 * (i + 1)), MACs: int64(50000 * (4 - i))}
		for j := range c.Ratios {
			drop := float64(j*j) * (0.3 + 0.5*float64(3-i))
			l.Drop = append(l.Drop, drop)
			l.Accuracy = append(l.Accuracy, c.Baseline-drop)
		}
		c.Layers = append(c.Layers, l)
	}
	return c
}

// fencedActions carries out operator actions as the leader does: the rollout
// package's transition, stored compare-and-swap under the leader's fence.
type fencedActions struct {
	cli      *clientv3.Client
	fence    profiles.Fence
	rollouts *rollout.Store
}

func (a *fencedActions) RolloutAction(ctx context.Context, class, id string, action dashboard.Action, reason string) error {
	r, rev, err := a.rollouts.Get(ctx, class, id)
	if err != nil {
		return err
	}
	out, err := dashboard.Transition(r, action, time.Now().UTC(), reason)
	if err != nil {
		return err
	}
	_, err = a.rollouts.Put(ctx, a.fence, out, rev)
	return err
}

func (a *fencedActions) Retune(ctx context.Context, class, reason string) error {
	key := profiles.TuningKey(class)
	resp, err := a.cli.Get(ctx, key)
	if err != nil {
		return err
	}
	st := &tuning.State{Class: class}
	var rev int64
	if len(resp.Kvs) == 1 {
		if err := json.Unmarshal(resp.Kvs[0].Value, st); err != nil {
			return err
		}
		rev = resp.Kvs[0].ModRevision
	}
	now := time.Now().UTC()
	next := &tuning.State{Class: class, Model: st.Model, Generation: st.Generation + 1, Phase: tuning.PhaseMeasuringBase,
		RetuneReason: reason, ProbeCohort: st.ProbeCohort, Latency: st.Latency, StartedAt: now, UpdatedAt: now}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	_, err = a.fence.Commit(ctx, a.cli, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpPut(key, string(b)))
	return err
}
