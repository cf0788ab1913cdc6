package rollout_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

// TestStepSurvivesFailover drives a rollout through Store.Step while the leader
// fails mid-action and a standby takes over: no stage is skipped or repeated and
// the only repeated action is the one never confirmed, with the same ID.
func TestStepSurvivesFailover(t *testing.T) {
	cli := testutil.Etcd(t)
	ctx := context.Background()
	st := rollout.NewStore(cli)
	clock := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	slo := profiles.SLO{P95Latency: profiles.Duration(35 * time.Millisecond), MaxAccuracyDrop: 1}
	devs := []string{"dev-a", "dev-b", "dev-c", "dev-d"}
	var reports []rollout.Report
	observe := func(ctx context.Context, r rollout.Rollout) (rollout.Observations, error) {
		return rollout.Observations{SLO: slo, Devices: devs, Reports: reports}, nil
	}
	var executed []string
	installs := map[string]int{} // device -> installs received
	failNext := false
	execute := func(ctx context.Context, r rollout.Rollout, a rollout.Action) error {
		executed = append(executed, a.ID)
		if a.Kind == rollout.ActionInstall {
			for _, d := range a.Devices {
				installs[d]++
				reports = append(reports, rollout.Report{DeviceID: d, Variant: a.Variant, Received: clock.Add(time.Second), OK: true, ParityOK: true, P95: 20 * time.Millisecond})
			}
		}
		if failNext {
			failNext = false
			return errors.New("leader died while publishing")
		}
		return nil
	}

	fenceA, sessA := campaign(t, cli, "a")
	r, err := rollout.New("r7", "small", "v2", "v1", rollout.Plan{Stages: []float64{50, 100}, BakeTime: profiles.Duration(10 * time.Second)}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, fenceA, r); err != nil {
		t.Fatal(err)
	}
	failNext = true
	if _, err := st.Step(ctx, fenceA, "small", "r7", observe, execute, now); err == nil {
		t.Fatalf("Step with a failing action succeeded")
	}
	stored, _, err := st.Get(ctx, "small", "r7")
	if err != nil || stored.State != rollout.StateBaking || len(stored.Pending) != 1 {
		t.Fatalf("after the failed action: %s with %d pending, %v", stored.State, len(stored.Pending), err)
	}

	// The leader is gone; B takes over and continues from etcd.
	if _, err := cli.Revoke(ctx, sessA.Lease()); err != nil {
		t.Fatal(err)
	}
	fenceB, _ := campaign(t, cli, "b")
	if _, err := st.Step(ctx, fenceA, "small", "r7", observe, execute, now); !errors.Is(err, profiles.ErrNotLeader) {
		t.Fatalf("deposed Step: error = %v, want ErrNotLeader", err)
	}
	var states []rollout.State
	for i := 0; i < 10; i++ {
		clock = clock.Add(6 * time.Second)
		r, err := st.Step(ctx, fenceB, "small", "r7", observe, execute, now)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		states = append(states, r.State)
		if r.State.Final() {
			break
		}
	}
	final, _, err := st.Get(ctx, "small", "r7")
	if err != nil {
		t.Fatal(err)
	}
	if final.State != rollout.StateSucceeded {
		t.Fatalf("final state %s (%v): %s", final.State, states, final.Message)
	}
	want := []string{"r7-s0-install", "r7-s0-install", "r7-s1-install", "r7-succeeded"}
	if !slices.Equal(executed, want) {
		t.Errorf("executed = %v, want %v", executed, want)
	}
	for _, g := range final.Gates {
		if !g.Passed {
			t.Errorf("gate %+v did not pass", g)
		}
	}
	if len(final.Gates) != 2 || final.Gates[0].Stage != 0 || final.Gates[1].Stage != 1 {
		t.Errorf("gates = %+v, want stage 0 then stage 1", final.Gates)
	}
	// Only the unconfirmed stage-0 install went out twice (same ID, de-duplicated downstream).
	for _, d := range devs {
		want := 1
		if slices.Contains(final.Cohorts[0], d) {
			want = 2
		}
		if installs[d] != want {
			t.Errorf("device %s got %d installs, want %d", d, installs[d], want)
		}
	}
	if got := final.RequeueAfter(clock); got != 0 {
		t.Errorf("RequeueAfter of a finished rollout = %s, want 0", got)
	}
}
