package stack_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/agent"
)

// TestCohortNewcomerIsProbed starts a class with one device whose benchmark is held,
// so the base model's command is out on a cohort of one, then starts a second device.
// It joins the probe cohort while the command is pending and must be sent it too: the
// tuner once waited ReportTimeout (a minute here, two in the demo) for a report from
// a device it had never asked, which stalled about half the demo runs.
func TestCohortNewcomerIsProbed(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model and tunes on local agents; run without -short")
	}
	ctx := context.Background()
	onnxBytes, _ := baseModel(t)
	s, nodes := testStack(t, 1)
	if _, err := s.WaitLeader(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	applyFleet(t, nodes[0], onnxBytes, `  - name: grow
    selector: "tier=grow"
    baseModel: lenet5
    slo: {p95Latency: 10ms, maxAccuracyDrop: 50}
`)
	held := agent.NewBenchGate(1)
	if err := held.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			held.Release()
		}
	}
	t.Cleanup(release)
	startAgent(t, s, "grow-a", map[string]string{"tier": "grow"}, agent.WithBenchGate(held))
	waitFor(t, 30*time.Second, "base model command out on grow-a", func() bool {
		st := tuningState(t, s, "grow")
		return st != nil && st.Base == nil && st.Pending != nil && len(st.Pending.Commands) == 1
	})

	startAgent(t, s, "grow-b", map[string]string{"tier": "grow"})
	waitFor(t, 15*time.Second, "grow-b in the probe cohort", func() bool {
		st := tuningState(t, s, "grow")
		return st != nil && slices.Contains(st.ProbeCohort, "grow-b")
	})
	release()

	// Well under the tuner's ReportTimeout of a minute, which is how long the
	// measurement took when the newcomer was waited for but never asked.
	const within = 20 * time.Second
	waitFor(t, within, "base model measured on the grown cohort", func() bool {
		st := tuningState(t, s, "grow")
		return st != nil && st.Base != nil
	})
	st := tuningState(t, s, "grow")
	var got []string
	for d := range st.Base.DeviceP95 {
		got = append(got, d)
	}
	slices.Sort(got)
	if want := []string{"grow-a", "grow-b"}; !slices.Equal(got, want) {
		t.Errorf("base model measured on %v, want %v", got, want)
	}
}
