package stack_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/rollout"
)

// TestInfeasibleAndEmptyClasses: an SLO no variant can meet ends in an infeasible
// verdict naming the binding limit, not a loop; a class without devices waits and
// says so.
func TestInfeasibleAndEmptyClasses(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and tunes a class; run without -short")
	}
	onnxBytes, _ := baseModel(t)
	s, nodes := testStack(t, 1)
	if _, err := s.WaitLeader(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	applyFleet(t, nodes[0], onnxBytes, `  - name: impossible
    selector: "tier=imp"
    baseModel: lenet5
    slo: {p95Latency: 1us, maxAccuracyDrop: 50}
  - name: empty
    selector: "tier=nobody"
    baseModel: lenet5
    slo: {p95Latency: 10ms, maxAccuracyDrop: 1}
`)
	startAgent(t, s, "imp-1", map[string]string{"tier": "imp"})
	st := waitVerdict(t, s, "impossible", 6*time.Minute)
	if st.Verdict != tuning.Infeasible {
		t.Fatalf("verdict %q (%s), want infeasible", st.Verdict, st.Reason)
	}
	if !strings.Contains(st.Reason, "smallest valid model") || !strings.Contains(st.Reason, "slo 1µs") {
		t.Errorf("reason %q: want it to name the smallest valid model and the p95 limit", st.Reason)
	}
	if n := len(st.Trials); n == 0 || n > tuning.DefaultMaxIterations {
		t.Errorf("%d variants built before the verdict, want 1..%d", n, tuning.DefaultMaxIterations)
	}
	empty := tuningState(t, s, "empty")
	if empty == nil || empty.Phase != tuning.PhaseWaitingDevices || !strings.Contains(empty.Message, "no present device") {
		t.Errorf("empty class state %+v, want waiting with a message saying there is no device", empty)
	}
}

// cgroupCPU says whether this machine lets a process create a cgroup with a CPU quota.
func cgroupCPU() error {
	for _, dir := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup"} {
		d, err := os.MkdirTemp(dir, "fleetprune-probe-")
		if err == nil {
			return os.Remove(d)
		}
	}
	return fmt.Errorf("no writable cgroup cpu controller under /sys/fs/cgroup")
}

// TestGateFailureRollsBack: a device that joins its class under a heavier CPU limit
// than the class's probe devices breaks the rollout gate; the devices the rollout
// reached go back to the previous variant, and tuning starts again with the slow
// device in its probe cohort.
func TestGateFailureRollsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model, tunes and rolls out; run without -short")
	}
	if err := cgroupCPU(); err != nil {
		t.Skipf("a heavier CPU limit needs a cgroup: %v", err)
	}
	onnxBytes, g := baseModel(t)
	slo := time.Duration(float64(measureP95(t, g)) * 0.8)
	s, nodes := testStack(t, 1)
	if _, err := s.WaitLeader(context.Background(), 15*time.Second); err != nil {
		t.Fatal(err)
	}
	applyFleet(t, nodes[0], onnxBytes, fmt.Sprintf(`  - name: gate
    selector: "tier=gate"
    baseModel: lenet5
    channelMultiple: 2
    slo: {p95Latency: %dus, maxAccuracyDrop: 20}
`, slo.Microseconds()))
	// Probe cohorts take the first devices by id: the slow one sorts last.
	startAgent(t, s, "gate-1", map[string]string{"tier": "gate"})
	startAgent(t, s, "gate-2", map[string]string{"tier": "gate"})
	startAgent(t, s, "gate-zz-slow", map[string]string{"tier": "gate"}, agent.WithCPUQuota(0.2))

	st := waitVerdict(t, s, "gate", 6*time.Minute)
	if st.Verdict != tuning.Met {
		t.Fatalf("verdict %q: %s", st.Verdict, st.Reason)
	}
	if slices.Contains(st.ProbeCohort, "gate-zz-slow") {
		t.Fatalf("probe cohort %v holds the slow device; the test needs it outside", st.ProbeCohort)
	}
	r := waitRollout(t, s, "gate", "ro-"+st.Accepted, rollout.StateRolledBack, 3*time.Minute)
	last := r.Gates[len(r.Gates)-1]
	if last.Passed || !slices.Contains(last.Failing, "gate-zz-slow") {
		t.Errorf("last gate %+v: want a failure naming gate-zz-slow", last)
	}
	// Every device the rollout reached runs the previous variant again.
	waitInstalled(t, nodes[0], r.Installed(), r.Previous, time.Minute)
	// Tuning starts over with the slow device among the probes.
	deadline := time.Now().Add(time.Minute)
	for {
		next := tuningState(t, s, "gate")
		if next.Generation == 2 {
			if !strings.Contains(next.RetuneReason, "gate failed") {
				t.Errorf("retune reason %q, want it to say the gate failed", next.RetuneReason)
			}
			if !slices.Contains(next.ProbeCohort, "gate-zz-slow") {
				t.Errorf("generation 2 probe cohort %v, want the slow device in it", next.ProbeCohort)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no retune after the rollback: %+v", next)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
