package stack_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/stack"
	"github.com/fleetprune/fleetprune/rollout"
)

// TestFailoverMidTuningAndMidRollout stops the leading coordinator while a class is
// being tuned, and the next leader while its variant rolls out: each standby must
// finish from etcd state with no variant built twice and no stage skipped or
// repeated.
func TestFailoverMidTuningAndMidRollout(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and tunes a class across failovers; run without -short")
	}
	onnxBytes, g := baseModel(t)
	slo := time.Duration(float64(measureP95(t, g)) * 0.7)
	s, nodes := testStack(t, 2)
	leader, err := s.WaitLeader(context.Background(), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if leader != nodes[0] {
		// The API listens on the first node only; make it the leader for apply.
		nodes[1].Stop()
		if leader, err = s.WaitLeader(context.Background(), 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if nodes[1], err = s.StartNode(context.Background(), "c2b", "-"); err != nil {
			t.Fatal(err)
		}
	}
	applyFleet(t, leader, onnxBytes, fmt.Sprintf(`  - name: fo
    selector: "tier=fo"
    baseModel: lenet5
    channelMultiple: 2
    slo: {p95Latency: %dus, maxAccuracyDrop: 20}
`, slo.Microseconds()))
	for i := 1; i <= 4; i++ {
		startAgent(t, s, fmt.Sprintf("fo-%d", i), map[string]string{"tier": "fo"})
	}

	// Stop the leader once it has published the first variant to the probe cohort.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		st := tuningState(t, s, "fo")
		if st != nil && (st.Pending != nil && st.Base != nil || st.Phase == tuning.PhaseDone) {
			t.Logf("stopping leader %s in phase %s (%s)", leader.Name, st.Phase, st.Message)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tuning did not reach a variant within 5m: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	leader.Stop()
	standby, err := s.StartNode(context.Background(), "c3", "-")
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.WaitLeader(context.Background(), 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader now %s", second.Name)

	st := waitVerdict(t, s, "fo", 6*time.Minute)
	if st.Verdict != tuning.Met {
		t.Fatalf("verdict %q: %s", st.Verdict, st.Reason)
	}
	if st.Generation != 1 {
		t.Errorf("generation %d after failover, want 1: the standby must continue the run, not restart it", st.Generation)
	}
	seen := map[string]bool{}
	for i, tr := range st.Trials {
		if seen[tr.VariantID] {
			t.Errorf("variant %s recorded twice", tr.VariantID)
		}
		seen[tr.VariantID] = true
		if want := fmt.Sprintf("g1-v%d", i+1); tr.VariantID != want {
			t.Errorf("trial %d is %s, want %s: a variant was skipped or rebuilt", i, tr.VariantID, want)
		}
	}

	// Stop the new leader while the rollout bakes a stage after the first.
	id := "ro-" + st.Accepted
	waitStage(t, s, "fo", id, 1, 3*time.Minute)
	second.Stop()
	if _, err := s.StartNode(context.Background(), "c4", "-"); err != nil {
		t.Fatal(err)
	}
	_ = standby
	r := waitRollout(t, s, "fo", id, rollout.StateSucceeded, 3*time.Minute)
	if got, want := len(r.Cohorts), len(r.Plan.Stages); got != want {
		t.Errorf("%d cohorts for %d stages: %v", got, want, r.Cohorts)
	}
	var all []string
	for _, c := range r.Cohorts {
		for _, d := range c {
			if slices.Contains(all, d) {
				t.Errorf("device %s installed in two stages: %v", d, r.Cohorts)
			}
			all = append(all, d)
		}
	}
	if len(all) != 4 {
		t.Errorf("rollout reached %d devices, want 4: %v", len(all), r.Cohorts)
	}
	entered := map[int]int{}
	for _, ev := range r.History {
		if ev.To == rollout.StateBaking {
			entered[ev.Stage]++
		}
	}
	for stage, n := range entered {
		if n != 1 {
			t.Errorf("stage %d entered %d times; history: %s", stage, n, history(r))
		}
	}
}

func waitStage(t *testing.T, s *stack.Stack, class, id string, stage int, timeout time.Duration) {
	t.Helper()
	cli, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	store := rollout.NewStore(cli)
	deadline := time.Now().Add(timeout)
	var r rollout.Rollout
	for time.Now().Before(deadline) {
		r, _, err = store.Get(context.Background(), class, id)
		if err == nil && (r.Stage >= stage && r.State == rollout.StateBaking || r.State.Final()) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("rollout %s never baked stage %d: state %s stage %d (%v)", id, stage, r.State, r.Stage, err)
}

func history(r rollout.Rollout) string {
	var b strings.Builder
	for _, ev := range r.History {
		fmt.Fprintf(&b, "\n  stage %d %s -> %s: %s", ev.Stage, ev.From, ev.To, ev.Message)
	}
	return b.String()
}
