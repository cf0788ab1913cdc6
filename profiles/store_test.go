package profiles_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func campaign(t testing.TB, cli *clientv3.Client, name string) (profiles.Fence, *concurrency.Session) {
	t.Helper()
	return testutil.Leader(t, cli, name)
}

func benchFence(b *testing.B, cli *clientv3.Client) profiles.Fence {
	f, _ := campaign(b, cli, "bench")
	return f
}

func exampleFleet(t *testing.T) *profiles.Fleet {
	t.Helper()
	b, err := os.ReadFile("testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := profiles.ParseFleet(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// countKeys counts the stored classes, models and devices.
func countKeys(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{profiles.ClassPrefix, profiles.ModelPrefix, profiles.DevicePrefix} {
		resp, err := cli.Get(context.Background(), p, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		n += resp.Count
	}
	return n
}

func TestApplyFleetStoresEverything(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	st := profiles.NewStore(cli)
	f := exampleFleet(t)
	if err := st.ApplyFleet(ctx, fence, f); err != nil {
		t.Fatalf("ApplyFleet: %v", err)
	}
	classes, err := st.Classes.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(classes) != 3 {
		t.Fatalf("stored %d classes, want 3", len(classes))
	}
	got, err := st.Classes.Get(ctx, "edge-avx2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Selector.String() != f.Classes[1].Selector.String() || got.SLO != f.Classes[1].SLO {
		t.Errorf("stored class = %+v, want %+v", got, f.Classes[1])
	}
	if !got.Selector.Matches(profiles.HardwareProfile{Arch: "amd64", Cores: 2, SIMDFlags: []string{"avx2"}, Labels: map[string]string{"tier": "lab"}}) {
		t.Errorf("stored selector %q lost its meaning", got.Selector)
	}
	m, err := st.Models.Get(ctx, "lenet5-mnist")
	if err != nil || m.Digest != f.Models[0].Digest {
		t.Errorf("stored model = %+v, %v", m, err)
	}
	if _, err := st.Classes.Get(ctx, "nope"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Get(nope) error = %v, want ErrNotFound", err)
	}
	// Applying again changes nothing but succeeds (idempotent upsert).
	if err := st.ApplyFleet(ctx, fence, f); err != nil {
		t.Fatalf("second ApplyFleet: %v", err)
	}
	if n := countKeys(t, cli); n != 4 {
		t.Errorf("keys under prefix = %d, want 4 (3 classes, 1 model)", n)
	}
}

func TestApplyFleetIsAllOrNothing(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	st := profiles.NewStore(cli)

	// A class whose base model is neither in the document nor stored.
	f := exampleFleet(t)
	f.Models = nil
	err := st.ApplyFleet(ctx, fence, f)
	var list profiles.ErrorList
	if !errors.As(err, &list) || len(list) != 3 || list[0].Field != "classes[0].baseModel" {
		t.Fatalf("ApplyFleet without the model: error = %v, want 3 baseModel errors", err)
	}
	if n := countKeys(t, cli); n != 0 {
		t.Fatalf("rejected fleet stored %d keys, want 0", n)
	}

	// An invalid class among valid ones.
	f = exampleFleet(t)
	f.Classes[2].SLO.MaxAccuracyDrop = 150
	f.Classes[0].SLO.P95Latency = -1
	err = st.ApplyFleet(ctx, fence, f)
	if !errors.As(err, &list) || !errors.Is(err, profiles.ErrInvalid) {
		t.Fatalf("ApplyFleet with bad SLOs: error = %v, want an ErrorList", err)
	}
	if got := list.Fields(); len(got) != 2 || got[0] != "classes[0].slo.p95Latency" || got[1] != "classes[2].slo.maxAccuracyDrop" {
		t.Errorf("fields = %q", got)
	}
	if n := countKeys(t, cli); n != 0 {
		t.Fatalf("rejected fleet stored %d keys, want 0", n)
	}

	// A document without digests is not stored either.
	f = exampleFleet(t)
	f.Models[0].Digest = ""
	f.Models[0].Source = "lenet5.onnx"
	if err := st.ApplyFleet(ctx, fence, f); !errors.Is(err, profiles.ErrInvalid) {
		t.Fatalf("ApplyFleet without digest: error = %v, want ErrInvalid", err)
	}
	if n := countKeys(t, cli); n != 0 {
		t.Fatalf("rejected fleet stored %d keys, want 0", n)
	}

	// Once the model is stored, a document with only classes applies.
	f = exampleFleet(t)
	if err := st.Models.Put(ctx, fence, f.Models[0]); err != nil {
		t.Fatal(err)
	}
	f.Models = nil
	if err := st.ApplyFleet(ctx, fence, f); err != nil {
		t.Fatalf("ApplyFleet with a stored base model: %v", err)
	}
}

func TestDeposedLeaderWriteIsRejected(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	st := profiles.NewStore(cli)
	f := exampleFleet(t)

	fenceA, sessA := campaign(t, cli, "coordinator-a")
	if err := st.Models.Put(ctx, fenceA, f.Models[0]); err != nil {
		t.Fatalf("leader A write: %v", err)
	}
	// A loses its lease (as if it were partitioned away past its TTL); B is elected.
	if _, err := cli.Revoke(ctx, sessA.Lease()); err != nil {
		t.Fatal(err)
	}
	fenceB, _ := campaign(t, cli, "coordinator-b")
	if fenceA == fenceB {
		t.Fatalf("both leaders hold fence %v", fenceA)
	}

	// A still believes it leads; every kind of write it tries is refused.
	c := f.Classes[0]
	c.SLO.P95Latency = profiles.Duration(time.Second)
	if err := st.Classes.Put(ctx, fenceA, c); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("deposed Put: error = %v, want ErrNotLeader", err)
	}
	if err := st.ApplyFleet(ctx, fenceA, f); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("deposed ApplyFleet: error = %v, want ErrNotLeader", err)
	}
	if err := st.Models.Delete(ctx, fenceA, f.Models[0].Name); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("deposed Delete: error = %v, want ErrNotLeader", err)
	}
	if err := st.Models.PutIfRev(ctx, fenceA, f.Models[0], 0); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("deposed PutIfRev: error = %v, want ErrNotLeader", err)
	}
	if err := fenceA.Check(ctx, cli); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("deposed Check: error = %v, want ErrNotLeader", err)
	}
	if err := fenceB.Check(ctx, cli); err != nil {
		t.Errorf("leader Check: %v", err)
	}
	if n := countKeys(t, cli); n != 1 {
		t.Fatalf("keys after deposed writes = %d, want 1 (the model A wrote while leading)", n)
	}

	// B writes.
	if err := st.ApplyFleet(ctx, fenceB, f); err != nil {
		t.Fatalf("new leader ApplyFleet: %v", err)
	}
	if _, err := st.Classes.Get(ctx, c.Name); err != nil {
		t.Fatalf("class after new leader's write: %v", err)
	}

	if err := st.Models.Put(ctx, profiles.Fence{}, f.Models[0]); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("empty fence: error = %v, want ErrNotLeader", err)
	}
}

func TestPutIfRevAndDelete(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	st := profiles.NewStore(cli)
	d := profiles.Device{ID: "dev-1", Class: "tiny", Profile: profiles.HardwareProfile{Arch: "amd64", Cores: 2}}
	if err := st.Devices.PutIfRev(ctx, fence, d, 0); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := st.Devices.PutIfRev(ctx, fence, d, 0); !errors.Is(err, profiles.ErrConflict) {
		t.Fatalf("create again: error = %v, want ErrConflict", err)
	}
	got, rev, err := st.Devices.GetWithRev(ctx, "dev-1")
	if err != nil || got.Profile.Cores != 2 {
		t.Fatalf("GetWithRev = %+v, %v", got, err)
	}
	got.InstalledVariant = "v1"
	if err := st.Devices.PutIfRev(ctx, fence, got, rev); err != nil {
		t.Fatalf("update at rev %d: %v", rev, err)
	}
	if err := st.Devices.PutIfRev(ctx, fence, got, rev); !errors.Is(err, profiles.ErrConflict) {
		t.Fatalf("update at stale rev: error = %v, want ErrConflict", err)
	}
	bad := d
	bad.ID = "Dev 1"
	if err := st.Devices.Put(ctx, fence, bad); !errors.Is(err, profiles.ErrInvalid) {
		t.Fatalf("invalid device: error = %v, want ErrInvalid", err)
	}
	if err := st.Devices.Delete(ctx, fence, "dev-1"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if err := st.Devices.Delete(ctx, fence, "dev-1"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("delete again: error = %v, want ErrNotFound", err)
	}
}

func TestListPages(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	st := profiles.NewStore(cli)
	const n = 1203
	var ops []clientv3.Op
	for i := 0; i < n; i++ {
		op, err := st.Devices.PutOp(profiles.Device{ID: fmt.Sprintf("dev-%04d", i), Profile: profiles.HardwareProfile{Arch: "arm64", Cores: 1}})
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
		if len(ops) == 100 {
			if _, err := fence.Commit(ctx, cli, nil, ops...); err != nil {
				t.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	if _, err := fence.Commit(ctx, cli, nil, ops...); err != nil {
		t.Fatal(err)
	}
	devices, err := st.Devices.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(devices) != n {
		t.Fatalf("List returned %d devices, want %d", len(devices), n)
	}
	for i, d := range devices {
		if want := fmt.Sprintf("dev-%04d", i); d.ID != want {
			t.Fatalf("devices[%d] = %s, want %s", i, d.ID, want)
		}
	}
	names, err := st.Devices.Names(ctx)
	if err != nil || len(names) != n || names[n-1] != "dev-1202" {
		t.Fatalf("Names = %d names, %v", len(names), err)
	}
}

func TestPresenceGoesStale(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	pr := profiles.NewPresence(cli, time.Second)

	if err := pr.Touch(ctx, fence, "dev-1"); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if err := pr.Touch(ctx, fence, "dev-2"); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	present, err := pr.PresentIDs(ctx)
	if err != nil || !present["dev-1"] || !present["dev-2"] {
		t.Fatalf("PresentIDs = %v, %v; want dev-1 and dev-2", present, err)
	}
	// dev-1 keeps sending heartbeats, dev-2 goes silent.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if err := pr.Touch(ctx, fence, "dev-1"); err != nil {
			t.Fatalf("Touch: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, err := pr.Present(ctx, "dev-1"); err != nil || !ok {
		t.Errorf("dev-1 present = %v, %v; want true", ok, err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		ok, err := pr.Present(ctx, "dev-2")
		return err == nil && !ok
	})
	// A stale device comes back with a fresh lease.
	if err := pr.Touch(ctx, fence, "dev-2"); err != nil {
		t.Fatalf("Touch after stale: %v", err)
	}
	if ok, _ := pr.Present(ctx, "dev-2"); !ok {
		t.Errorf("dev-2 not present after its return")
	}
	// A standby that took over (a new Presence, no memory of leases) renews the
	// existing lease instead of granting a second one.
	standby := profiles.NewPresence(cli, time.Second)
	before, _ := cli.Get(ctx, profiles.PresenceKey("dev-1"))
	if err := standby.Touch(ctx, fence, "dev-1"); err != nil {
		t.Fatalf("standby Touch: %v", err)
	}
	after, _ := cli.Get(ctx, profiles.PresenceKey("dev-1"))
	if before.Kvs[0].Lease != after.Kvs[0].Lease {
		t.Errorf("standby re-granted dev-1's lease: %x -> %x", before.Kvs[0].Lease, after.Kvs[0].Lease)
	}
	if err := pr.Forget(ctx, fence, "dev-1"); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	if ok, _ := pr.Present(ctx, "dev-1"); ok {
		t.Errorf("dev-1 present after Forget")
	}
	if err := pr.Touch(ctx, profiles.Fence{Key: fence.Key, Rev: fence.Rev + 1}, "dev-3"); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("Touch with a wrong fence: error = %v, want ErrNotLeader", err)
	}
	if err := pr.Touch(ctx, fence, "bad id"); !errors.Is(err, profiles.ErrInvalid) {
		t.Errorf("Touch with a bad id: error = %v, want ErrInvalid", err)
	}
	// A cancelled call fails and leaves the renewal stream usable.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := pr.Touch(cctx, fence, "dev-2"); !errors.Is(err, context.Canceled) {
		t.Errorf("Touch with a cancelled context: error = %v, want context.Canceled", err)
	}
	if err := pr.Touch(ctx, fence, "dev-2"); err != nil {
		t.Errorf("Touch after a cancelled one: %v", err)
	}
	pr.Close()
	standby.Close()
}

func TestStoreSurvivesEtcdRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	srv := testutil.EtcdServerIn(t, dir)
	cli := testutil.EtcdClient(t, srv)
	fence, sess := campaign(t, cli, "coordinator-a")
	if err := profiles.NewStore(cli).ApplyFleet(ctx, fence, exampleFleet(t)); err != nil {
		t.Fatal(err)
	}
	_ = sess.Close()
	_ = cli.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2 := testutil.EtcdServerIn(t, dir)
	cli2 := testutil.EtcdClient(t, srv2)
	st := profiles.NewStore(cli2)
	classes, err := st.Classes.List(ctx)
	if err != nil || len(classes) != 3 {
		t.Fatalf("classes after restart = %d, %v; want 3", len(classes), err)
	}
	if _, err := st.Models.Get(ctx, "lenet5-mnist"); err != nil {
		t.Fatalf("model after restart: %v", err)
	}
	// The old fence is dead after the restart's new election.
	fence2, _ := campaign(t, cli2, "coordinator-a")
	if err := st.Classes.Delete(ctx, fence, "tiny"); !errors.Is(err, profiles.ErrNotLeader) {
		t.Errorf("old fence after restart: error = %v, want ErrNotLeader", err)
	}
	if err := st.Classes.Delete(ctx, fence2, "tiny"); err != nil {
		t.Errorf("new fence: %v", err)
	}
}

func TestPresenceConcurrentTouches(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	fence, _ := campaign(t, cli, "coordinator-a")
	pr := profiles.NewPresence(cli, 5*time.Second)
	defer pr.Close()
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			var err error
			for i := 0; i < 40 && err == nil; i++ {
				err = pr.Touch(ctx, fence, fmt.Sprintf("dev-%d", (g*7+i)%20))
			}
			errs <- err
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Touch: %v", err)
		}
	}
	present, err := pr.PresentIDs(ctx)
	if err != nil || len(present) != 20 {
		t.Fatalf("present = %d devices, %v; want 20", len(present), err)
	}
	// However the first touches raced, the lease being renewed is the one each
	// presence key lives under: only alive leases are attached to keys, and every
	// granted lease is either attached or revoked.
	resp, err := cli.Get(ctx, profiles.PresencePrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	attached := map[clientv3.LeaseID]bool{}
	for _, kv := range resp.Kvs {
		attached[clientv3.LeaseID(kv.Lease)] = true
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		if !attached[l.ID] && l.ID != sessionLease(t, cli) {
			t.Errorf("lease %x is alive but holds no presence key", l.ID)
		}
	}
	// Renewing now keeps every key: a touch renews the lease its key lives under.
	for i := 0; i < 20; i++ {
		if err := pr.Touch(ctx, fence, fmt.Sprintf("dev-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range resp.Kvs {
		ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(kv.Lease))
		if err != nil || ttl.TTL < 3 {
			t.Errorf("key %s: lease ttl %d after renewal (%v), want about 5", kv.Key, ttl.TTL, err)
		}
	}
}

// sessionLease returns the lease of the election session (the only lease that is
// not a device's).
func sessionLease(t *testing.T, cli *clientv3.Client) clientv3.LeaseID {
	t.Helper()
	resp, err := cli.Get(context.Background(), profiles.LeaderPrefix, clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("leader key: %v", err)
	}
	return clientv3.LeaseID(resp.Kvs[0].Lease)
}
