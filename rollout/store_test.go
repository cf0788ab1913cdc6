package rollout_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func campaign(t testing.TB, cli *clientv3.Client, name string) (profiles.Fence, *concurrency.Session) {
	t.Helper()
	return testutil.Leader(t, cli, name)
}

func TestStoreFencedCompareAndSwap(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	st := rollout.NewStore(cli)
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	r, err := rollout.New("r1", "small", "v2", "v1", rollout.Plan{Stages: []float64{50, 100}, BakeTime: profiles.Duration(time.Second)}, now)
	if err != nil {
		t.Fatal(err)
	}
	fenceA, sessA := campaign(t, cli, "a")
	rev, err := st.Create(ctx, fenceA, r)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	got, gotRev, err := st.Get(ctx, "small", "r1")
	if err != nil || gotRev != rev {
		t.Fatalf("Get = rev %d, %v; want rev %d", gotRev, err, rev)
	}
	if !reflect.DeepEqual(got, r) {
		t.Fatalf("stored rollout differs:\n got %+v\nwant %+v", got, r)
	}
	// A second unfinished rollout of the class is refused.
	r2, _ := rollout.New("r2", "small", "v3", "v1", rollout.Plan{}, now)
	if _, err := st.Create(ctx, fenceA, r2); !errors.Is(err, profiles.ErrConflict) {
		t.Fatalf("second active rollout: error = %v, want ErrConflict", err)
	}

	// One step, stored with compare-and-swap.
	obs := rollout.Observations{Devices: []string{"dev-1", "dev-2"}}
	next, acts := rollout.Next(got, obs, now)
	if len(acts) != 1 {
		t.Fatalf("actions = %v", acts)
	}
	rev2, err := st.Put(ctx, fenceA, next, gotRev)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	// A writer holding the old revision loses.
	if _, err := st.Put(ctx, fenceA, got, gotRev); !errors.Is(err, profiles.ErrConflict) {
		t.Fatalf("stale Put: error = %v, want ErrConflict", err)
	}
	active, ok, err := st.Active(ctx, "small")
	if err != nil || !ok || active.ID != "r1" || active.Rev != rev2 || active.State != rollout.StateBaking {
		t.Fatalf("Active = %+v, %v, %v", active, ok, err)
	}

	// Leadership moves; the deposed leader cannot write, the new one can.
	if _, err := cli.Revoke(ctx, sessA.Lease()); err != nil {
		t.Fatal(err)
	}
	fenceB, _ := campaign(t, cli, "b")
	done := rollout.Executed(next, now)
	if _, err := st.Put(ctx, fenceA, done, rev2); !errors.Is(err, profiles.ErrNotLeader) {
		t.Fatalf("deposed Put: error = %v, want ErrNotLeader", err)
	}
	standby, standbyRev, err := st.Get(ctx, "small", "r1")
	if err != nil {
		t.Fatal(err)
	}
	// The standby sees the installs still pending and repeats exactly them.
	_, again := rollout.Next(standby, obs, now.Add(time.Minute))
	if !reflect.DeepEqual(again, acts) {
		t.Fatalf("standby actions = %+v, want %+v", again, acts)
	}
	if _, err := st.Put(ctx, fenceB, rollout.Executed(standby, now.Add(time.Minute)), standbyRev); err != nil {
		t.Fatalf("new leader Put: %v", err)
	}
	list, err := st.List(ctx, "")
	if err != nil || len(list) != 1 || len(list[0].Pending) != 0 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, _, err := st.Get(ctx, "small", "nope"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Get(nope) error = %v, want ErrNotFound", err)
	}
	if _, _, err := st.Get(ctx, "small", "../x"); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Get(../x) error = %v, want ErrNotFound", err)
	}
}
