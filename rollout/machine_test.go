package rollout

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

var slo = profiles.SLO{P95Latency: profiles.Duration(35 * time.Millisecond), MaxAccuracyDrop: 1, MaxPeakMemory: 64 * profiles.MiB}

func devices(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("dev-%02d", i)
	}
	return out
}

func newRollout(t *testing.T, plan Plan) Rollout {
	t.Helper()
	r, err := New("r1", "small", "v2", "v1", plan, t0)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func good(id string, at time.Time) Report {
	return Report{DeviceID: id, Variant: "v2", Received: at, OK: true, P95: 20 * time.Millisecond, ParityOK: true, PeakMemory: 10 * profiles.MiB}
}

// coordinator plays the caller's contract: Next, store, carry out, Executed, store;
// the store is a JSON round trip, as etcd would hold it.
type coordinator struct {
	t       *testing.T
	stored  []byte
	actions []Action
}

func (c *coordinator) load() Rollout {
	var r Rollout
	if err := json.Unmarshal(c.stored, &r); err != nil {
		c.t.Fatalf("decode stored rollout: %v", err)
	}
	return r
}

func (c *coordinator) save(r Rollout) {
	b, err := json.Marshal(r)
	if err != nil {
		c.t.Fatal(err)
	}
	c.stored = b
}

// step runs one reconcile and returns the stored state after it.
func (c *coordinator) step(obs Observations, now time.Time) Rollout {
	r := c.load()
	next, acts := Next(r, obs, now)
	c.save(next)
	c.actions = append(c.actions, acts...)
	if len(acts) > 0 {
		c.save(Executed(next, now))
	}
	return c.load()
}

func TestRolloutSucceedsThroughEveryStage(t *testing.T) {
	plan := Plan{Stages: []float64{5, 25, 50, 100}, BakeTime: profiles.Duration(30 * time.Second), MinReports: 1}
	c := &coordinator{t: t}
	c.save(newRollout(t, plan))
	devs := devices(20)
	obs := Observations{SLO: slo, Devices: devs}
	now := t0
	wantNew := []int{1, 4, 5, 10}
	var seenStages []int
	for stage := 0; stage < 4; stage++ {
		r := c.step(obs, now)
		if r.State != StateBaking || r.Stage != stage {
			t.Fatalf("stage %d: state %s stage %d, want baking %d (%s)", stage, r.State, r.Stage, stage, r.Message)
		}
		seenStages = append(seenStages, r.Stage)
		cohort := r.Cohorts[stage]
		if len(cohort) != wantNew[stage] {
			t.Fatalf("stage %d added %d devices, want %d", stage, len(cohort), wantNew[stage])
		}
		last := c.actions[len(c.actions)-1]
		if last.Kind != ActionInstall || !slices.Equal(last.Devices, cohort) || last.ID != fmt.Sprintf("r1-s%d-install", stage) {
			t.Fatalf("stage %d action = %+v, want install of %v", stage, last, cohort)
		}
		// Reports arrive, but the bake time has not elapsed.
		for _, id := range cohort {
			obs.Reports = append(obs.Reports, good(id, now.Add(time.Second)))
		}
		now = now.Add(10 * time.Second)
		if r = c.step(obs, now); r.State != StateBaking {
			t.Fatalf("stage %d passed before its bake time: %s", stage, r.Message)
		}
		if !strings.Contains(r.Message, fmt.Sprintf("%d of %d new devices reported", len(cohort), len(cohort))) {
			t.Errorf("baking message = %q", r.Message)
		}
		now = now.Add(25 * time.Second)
		if r = c.step(obs, now); r.State != StatePromoting {
			t.Fatalf("stage %d: state %s after bake, want promoting (%s)", stage, r.State, r.Message)
		}
		now = now.Add(time.Second)
	}
	r := c.step(obs, now)
	if r.State != StateSucceeded || r.StagesPassed() != 4 {
		t.Fatalf("final state %s, %d stages passed; want succeeded, 4 (%s)", r.State, r.StagesPassed(), r.Message)
	}
	if last := c.actions[len(c.actions)-1]; last.Kind != ActionSucceeded || last.Variant != "v2" {
		t.Errorf("last action = %+v, want succeeded v2", last)
	}
	if !slices.Equal(seenStages, []int{0, 1, 2, 3}) {
		t.Errorf("stages entered = %v, want 0,1,2,3 once each", seenStages)
	}
	if got := r.Installed(); !slices.Equal(got, devs) {
		t.Errorf("installed = %v, want every device once", got)
	}
	// Nothing moves after the end.
	if again := c.step(obs, now.Add(time.Hour)); !reflect.DeepEqual(again, r) {
		t.Errorf("a final rollout changed on another step")
	}
}

func TestGateFailsOnEachViolation(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Report)
		want   string
	}{
		{"slow", func(r *Report) { r.P95 = 41 * time.Millisecond }, "p95 41ms > slo 35ms"},
		{"parity", func(r *Report) { r.ParityOK = false }, "output parity failed"},
		{"inference errors", func(r *Report) { r.InferenceErrors = 3 }, "3 inference errors"},
		{"memory", func(r *Report) { r.PeakMemory = 100 * profiles.MiB }, "peak memory 100MiB > slo 64MiB"},
		{"refused", func(r *Report) { r.OK = false; r.Error = "digest mismatch" }, "install or run failed: digest mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Plan{Stages: []float64{50, 100}, BakeTime: profiles.Duration(time.Minute), MinReports: 1, LatencyConfirmations: 1}
			c := &coordinator{t: t}
			c.save(newRollout(t, plan))
			obs := Observations{SLO: slo, Devices: devices(4)}
			r := c.step(obs, t0) // stage 0: 2 devices
			for _, id := range r.Cohorts[0] {
				obs.Reports = append(obs.Reports, good(id, t0.Add(time.Second)))
			}
			r = c.step(obs, t0.Add(2*time.Minute)) // pass
			r = c.step(obs, t0.Add(2*time.Minute)) // stage 1: the other 2
			if r.State != StateBaking || r.Stage != 1 {
				t.Fatalf("state %s stage %d, want baking 1", r.State, r.Stage)
			}
			bad := good(r.Cohorts[1][0], t0.Add(2*time.Minute+time.Second))
			tt.mutate(&bad)
			obs.Reports = append(obs.Reports, bad)
			// The gate fails at once, before the bake time.
			r = c.step(obs, t0.Add(2*time.Minute+2*time.Second))
			if r.State != StateRolledBack {
				t.Fatalf("state %s, want rolled-back (%s)", r.State, r.Message)
			}
			want := fmt.Sprintf("rollout r1: stage 1 gate: device %s: %s", bad.DeviceID, tt.want)
			if !strings.Contains(r.Message, want) {
				t.Errorf("message = %q, want it to contain %q", r.Message, want)
			}
			acts := c.actions[len(c.actions)-2:]
			if acts[0].Kind != ActionRollback || acts[0].Variant != "v1" || !slices.Equal(acts[0].Devices, devices(4)) {
				t.Errorf("rollback action = %+v, want every reached device back to v1", acts[0])
			}
			if acts[1].Kind != ActionFeedback || !slices.Equal(acts[1].Devices, []string{bad.DeviceID}) || !strings.Contains(acts[1].Reason, tt.want) {
				t.Errorf("feedback action = %+v", acts[1])
			}
			g := r.Gates[len(r.Gates)-1]
			if g.Passed || g.Stage != 1 || !slices.Equal(g.Failing, []string{bad.DeviceID}) {
				t.Errorf("gate = %+v", g)
			}
		})
	}
}

func TestGateJudgesTheRolloutsDevicesOnly(t *testing.T) {
	plan := Plan{Stages: []float64{50, 100}, BakeTime: profiles.Duration(time.Minute), MinReports: 1, LatencyConfirmations: 1}
	c := &coordinator{t: t}
	c.save(newRollout(t, plan))
	obs := Observations{SLO: slo, Devices: devices(4)}
	r := c.step(obs, t0)
	outsider := ""
	for _, d := range devices(4) {
		if !slices.Contains(r.Cohorts[0], d) {
			outsider = d
			break
		}
	}
	slow := func(id, variant string, at time.Time) Report {
		rep := good(id, at)
		rep.Variant = variant
		rep.P95 = time.Second
		return rep
	}
	obs.Reports = []Report{
		slow(outsider, "v2", t0.Add(time.Second)),        // not in the cohort
		slow(r.Cohorts[0][0], "v1", t0.Add(time.Second)), // the previous variant
		good(r.Cohorts[0][0], t0.Add(-time.Second)),      // measured before the installs were confirmed: counts
		good(r.Cohorts[0][1], t0.Add(time.Second)),
	}
	r = c.step(obs, t0.Add(2*time.Minute))
	if r.State != StatePromoting {
		t.Fatalf("state %s, want promoting (%s)", r.State, r.Message)
	}
	if g := r.Gates[0]; g.Reports != 2 || g.Devices != 2 || g.WorstP95.D() != 20*time.Millisecond {
		t.Errorf("gate = %+v, want 2 reports from 2 devices, worst 20ms", g)
	}
	// Stage 1: a late slow report from a stage-0 device fails stage 1's gate. (The
	// outsider's report goes: it joins the rollout now, and a report with this
	// rollout's ID can only come after its install.)
	obs.Reports = obs.Reports[1:]
	r = c.step(obs, t0.Add(3*time.Minute))
	if r.State != StateBaking || r.Stage != 1 {
		t.Fatalf("state %s stage %d, want baking 1", r.State, r.Stage)
	}
	obs.Reports = append(obs.Reports, slow(r.Cohorts[0][1], "v2", t0.Add(3*time.Minute)))
	r = c.step(obs, t0.Add(3*time.Minute+time.Second))
	if r.State != StateRolledBack || !strings.Contains(r.Message, "stage 1 gate: device "+r.Cohorts[0][1]+": p95 1s > slo 35ms") {
		t.Fatalf("state %s, message %q; want stage 1 rolled back for the stage-0 device", r.State, r.Message)
	}
}

func TestGateNeedsEveryNewDeviceAndMinReports(t *testing.T) {
	plan := Plan{Stages: []float64{100}, BakeTime: profiles.Duration(time.Minute), MinReports: 4,
		ReportTimeout: profiles.Duration(5 * time.Minute)}
	c := &coordinator{t: t}
	c.save(newRollout(t, plan))
	obs := Observations{SLO: slo, Devices: devices(3)}
	r := c.step(obs, t0)
	// Two of three devices report, twice each: 4 reports but one device is silent.
	for _, id := range r.Cohorts[0][:2] {
		obs.Reports = append(obs.Reports, good(id, t0.Add(time.Second)), good(id, t0.Add(2*time.Second)))
	}
	if r = c.step(obs, t0.Add(2*time.Minute)); r.State != StateBaking {
		t.Fatalf("passed with a silent device: %s", r.Message)
	}
	if !strings.Contains(r.Message, "2 of 3 new devices reported, 4 of 4 reports") {
		t.Errorf("message = %q", r.Message)
	}
	// The silent device never reports: the gate fails after bake + timeout.
	r = c.step(obs, t0.Add(6*time.Minute+time.Second))
	if r.State != StateRolledBack || !strings.Contains(r.Message, "2 of 3 devices and 4 of 4 reports") {
		t.Fatalf("state %s message %q, want a rollback for missing reports", r.State, r.Message)
	}

	// Another run: the third reports too, but only 3 reports in all < MinReports 4.
	c2 := &coordinator{t: t}
	c2.save(newRollout(t, plan))
	obs = Observations{SLO: slo, Devices: devices(3)}
	r = c2.step(obs, t0)
	for _, id := range r.Cohorts[0] {
		obs.Reports = append(obs.Reports, good(id, t0.Add(time.Second)))
	}
	if r = c2.step(obs, t0.Add(2*time.Minute)); r.State != StateBaking {
		t.Fatalf("passed with 3 of 4 reports: %s", r.Message)
	}
	obs.Reports = append(obs.Reports, good(r.Cohorts[0][0], t0.Add(2*time.Minute)))
	if r = c2.step(obs, t0.Add(2*time.Minute+time.Second)); r.State != StatePromoting {
		t.Fatalf("state %s with 4 reports, want promoting (%s)", r.State, r.Message)
	}
}

func TestPendingActionsRepeatUntilExecuted(t *testing.T) {
	r := newRollout(t, Plan{Stages: []float64{50, 100}, BakeTime: 0, MinReports: 1})
	obs := Observations{SLO: slo, Devices: devices(4)}
	r1, acts1 := Next(r, obs, t0)
	// The leader crashes before Executed; a standby reads the stored rollout, with
	// the devices listed in another order, and steps again later.
	b, _ := json.Marshal(r1)
	var standby Rollout
	if err := json.Unmarshal(b, &standby); err != nil {
		t.Fatal(err)
	}
	shuffled := Observations{SLO: slo, Devices: []string{"dev-03", "dev-01", "dev-00", "dev-02"}}
	r2, acts2 := Next(standby, shuffled, t0.Add(time.Minute))
	if !reflect.DeepEqual(acts1, acts2) {
		t.Fatalf("standby's actions = %+v, want the same as the leader's %+v", acts2, acts1)
	}
	if !reflect.DeepEqual(r2, standby) {
		t.Errorf("a step with pending actions changed the rollout")
	}
	if r2.StageStartedAt != (time.Time{}) {
		t.Errorf("bake clock started before the installs went out")
	}
	done := Executed(r2, t0.Add(2*time.Minute))
	if len(done.Pending) != 0 || !done.StageStartedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("Executed: pending %v, stage start %v", done.Pending, done.StageStartedAt)
	}
	if again := Executed(done, t0.Add(time.Hour)); !reflect.DeepEqual(again, done) {
		t.Errorf("Executed twice changed the rollout")
	}
}

func TestCohortsAreDeterministicAcrossCoordinators(t *testing.T) {
	devs := devices(37)
	rev := slices.Clone(devs)
	slices.Reverse(rev)
	plan := Plan{Stages: []float64{5, 25, 50, 100}, MinReports: 1}
	run := func(order []string) [][]string {
		c := &coordinator{t: t}
		c.save(newRollout(t, plan))
		obs := Observations{SLO: slo, Devices: order}
		now := t0
		for i := 0; i < 9; i++ {
			r := c.step(obs, now)
			if r.State == StateBaking {
				for _, id := range r.Cohorts[r.Stage] {
					obs.Reports = append(obs.Reports, good(id, now))
				}
			}
			now = now.Add(time.Second)
		}
		r := c.load()
		if r.State != StateSucceeded {
			t.Fatalf("state %s after 9 steps (4 stages of 2 steps, then success): %s", r.State, r.Message)
		}
		return r.Cohorts
	}
	a, b := run(devs), run(rev)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("cohorts differ with device order:\n%v\n%v", a, b)
	}
	if got := []int{len(a[0]), len(a[1]), len(a[2]), len(a[3])}; !slices.Equal(got, []int{2, 8, 9, 18}) {
		t.Errorf("cohort sizes = %v, want [2 8 9 18] (ceil of 5%%, 25%%, 50%%, 100%% of 37)", got)
	}
}

func TestSelectCohort(t *testing.T) {
	devs := devices(10)
	a := SelectCohort("r1", devs, 3)
	if len(a) != 3 || !slices.IsSorted(a) {
		t.Fatalf("SelectCohort = %v, want 3 sorted ids", a)
	}
	if b := SelectCohort("r1", append(slices.Clone(devs), devs[0]), 3); !slices.Equal(a, b) {
		t.Errorf("duplicates changed the cohort: %v vs %v", a, b)
	}
	if c := SelectCohort("r2", devs, 3); slices.Equal(a, c) {
		t.Errorf("rollouts r1 and r2 canary on the same devices %v", a)
	}
	if got := SelectCohort("r1", devs, 20); len(got) != 10 {
		t.Errorf("k beyond candidates: %d devices, want 10", len(got))
	}
	if got := SelectCohort("r1", devs, -1); len(got) != 0 {
		t.Errorf("negative k: %v", got)
	}
}

func TestStageTarget(t *testing.T) {
	tests := []struct {
		pct     float64
		n, prev int
		want    int
	}{
		{5, 20, 0, 1},
		{5, 100, 0, 5},
		{5, 3, 0, 1},
		{25, 3, 1, 2},
		{50, 3, 2, 3},
		{100, 3, 3, 3},
		{25, 20, 1, 5},
		{10, 1, 0, 1},
		{50, 1, 1, 1},
	}
	for _, tt := range tests {
		if got := StageTarget(tt.pct, tt.n, tt.prev); got != tt.want {
			t.Errorf("StageTarget(%v, %d, %d) = %d, want %d", tt.pct, tt.n, tt.prev, got, tt.want)
		}
	}
}

func TestFewerDevicesThanStages(t *testing.T) {
	c := &coordinator{t: t}
	c.save(newRollout(t, Plan{Stages: []float64{5, 25, 50, 100}, MinReports: 1}))
	obs := Observations{SLO: slo, Devices: devices(2)}
	now := t0
	var states []State
	for i := 0; i < 10; i++ {
		r := c.step(obs, now)
		states = append(states, r.State)
		if r.State == StateBaking {
			for _, id := range r.Cohorts[r.Stage] {
				obs.Reports = append(obs.Reports, good(id, now))
			}
		}
		now = now.Add(time.Second)
		if r.State.Final() {
			break
		}
	}
	r := c.load()
	if r.State != StateSucceeded {
		t.Fatalf("state %s: %s (%v)", r.State, r.Message, states)
	}
	if len(r.Gates) != 4 {
		t.Fatalf("gates = %d, want one per stage", len(r.Gates))
	}
	for i, g := range r.Gates {
		if g.Stage != i || !g.Passed {
			t.Errorf("gates[%d] = %+v, want stage %d passed", i, g, i)
		}
	}
	if sizes := []int{len(r.Cohorts[0]), len(r.Cohorts[1]), len(r.Cohorts[2]), len(r.Cohorts[3])}; !slices.Equal(sizes, []int{1, 1, 0, 0}) {
		t.Errorf("cohort sizes = %v, want [1 1 0 0]", sizes)
	}
}

func TestNoDevicesWaits(t *testing.T) {
	r := newRollout(t, DefaultPlan())
	r1, acts := Next(r, Observations{SLO: slo}, t0)
	if len(acts) != 0 || r1.State != StatePending || !strings.Contains(r1.Message, "class small has no devices") {
		t.Fatalf("state %s, actions %v, message %q", r1.State, acts, r1.Message)
	}
	r2, _ := Next(r1, Observations{SLO: slo}, t0.Add(time.Minute))
	if !reflect.DeepEqual(r1, r2) {
		t.Errorf("a second step with nothing changed changed the rollout")
	}
	r3, acts := Next(r2, Observations{SLO: slo, Devices: []string{"dev-00"}}, t0.Add(2*time.Minute))
	if r3.State != StateBaking || len(acts) != 1 {
		t.Errorf("with a device: state %s, %d actions", r3.State, len(acts))
	}
}

func TestNextLeavesItsInputAlone(t *testing.T) {
	r := newRollout(t, Plan{Stages: []float64{50, 100}, MinReports: 1, LatencyConfirmations: 1})
	obs := Observations{SLO: slo, Devices: devices(4)}
	r, _ = Next(r, obs, t0)
	r = Executed(r, t0)
	before, _ := json.Marshal(r)
	obs.Reports = []Report{good(r.Cohorts[0][0], t0), {DeviceID: r.Cohorts[0][1], Variant: "v2", Received: t0, P95: time.Second, OK: true, ParityOK: true}}
	out, acts := Next(r, obs, t0.Add(time.Minute))
	if out.State != StateRolledBack || len(acts) != 2 {
		t.Fatalf("state %s, %d actions", out.State, len(acts))
	}
	acts[0].Devices[0] = "mutated"
	after, _ := json.Marshal(r)
	if string(before) != string(after) {
		t.Errorf("Next changed its input rollout")
	}
	if out.Pending[0].Devices[0] == "mutated" {
		t.Errorf("returned actions alias the rollout's pending actions")
	}
}

// stateOf builds a rollout in the given state, for the operator table.
func stateOf(t *testing.T, s State) Rollout {
	t.Helper()
	r := newRollout(t, Plan{Stages: []float64{50, 100}, MinReports: 1, BakeTime: profiles.Duration(30 * time.Second)})
	obs := Observations{SLO: slo, Devices: devices(4)}
	switch s {
	case StatePending:
		return r
	case StateBaking, StatePromoting, StateSucceeded:
		r, _ = Next(r, obs, t0)
		r = Executed(r, t0)
		if s == StateBaking {
			return r
		}
		for _, id := range r.Cohorts[0] {
			obs.Reports = append(obs.Reports, good(id, t0))
		}
		r, _ = Next(r, obs, t0.Add(time.Minute))
		if s == StatePromoting {
			return r
		}
		r, _ = Next(Executed(r, t0), obs, t0.Add(time.Minute))
		r = Executed(r, t0.Add(time.Minute))
		for _, id := range r.Cohorts[1] {
			obs.Reports = append(obs.Reports, good(id, t0.Add(2*time.Minute)))
		}
		r, _ = Next(r, obs, t0.Add(3*time.Minute))
		r, _ = Next(r, obs, t0.Add(3*time.Minute))
		return Executed(r, t0.Add(3*time.Minute))
	case StatePaused:
		r, _ = Next(r, obs, t0)
		r = Executed(r, t0)
		p, err := Pause(r, t0, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	case StateRolledBack:
		r, _ = Next(r, obs, t0)
		r = Executed(r, t0)
		obs.Reports = []Report{{DeviceID: r.Cohorts[0][0], Variant: "v2", Received: t0, OK: false}}
		r, _ = Next(r, obs, t0)
		return Executed(r, t0)
	case StateAborted:
		a, err := Abort(r, t0, "")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Fatalf("no fixture for %s", s)
	return r
}

func TestOperatorCommands(t *testing.T) {
	type op func(Rollout) (Rollout, error)
	pause := func(r Rollout) (Rollout, error) { return Pause(r, t0, "investigating") }
	resume := func(r Rollout) (Rollout, error) { return Resume(r, t0) }
	promote := func(r Rollout) (Rollout, error) { return Promote(r, t0, "looks fine") }
	abort := func(r Rollout) (Rollout, error) { return Abort(r, t0, "bad idea") }
	tests := []struct {
		from    State
		name    string
		op      op
		want    State
		wantErr error
	}{
		{StatePending, "pause", pause, StatePaused, nil},
		{StateBaking, "pause", pause, StatePaused, nil},
		{StatePromoting, "pause", pause, StatePaused, nil},
		{StatePaused, "pause", pause, StatePaused, ErrPaused},
		{StateSucceeded, "pause", pause, StateSucceeded, ErrFinished},
		{StateRolledBack, "pause", pause, StateRolledBack, ErrFinished},
		{StateAborted, "pause", pause, StateAborted, ErrFinished},

		{StatePaused, "resume", resume, StateBaking, nil},
		{StateBaking, "resume", resume, StateBaking, ErrNotPaused},
		{StatePending, "resume", resume, StatePending, ErrNotPaused},
		{StateSucceeded, "resume", resume, StateSucceeded, ErrFinished},

		{StateBaking, "promote", promote, StatePromoting, nil},
		{StatePaused, "promote", promote, StatePromoting, nil},
		{StatePromoting, "promote", promote, StatePromoting, nil},
		{StatePending, "promote", promote, StatePending, ErrNotStarted},
		{StateSucceeded, "promote", promote, StateSucceeded, ErrFinished},
		{StateRolledBack, "promote", promote, StateRolledBack, ErrFinished},
		{StateAborted, "promote", promote, StateAborted, ErrFinished},

		{StatePending, "abort", abort, StateAborted, nil},
		{StateBaking, "abort", abort, StateAborted, nil},
		{StatePaused, "abort", abort, StateAborted, nil},
		{StatePromoting, "abort", abort, StateAborted, nil},
		{StateSucceeded, "abort", abort, StateSucceeded, ErrFinished},
		{StateRolledBack, "abort", abort, StateRolledBack, ErrFinished},
		{StateAborted, "abort", abort, StateAborted, ErrFinished},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s on %s", tt.name, tt.from), func(t *testing.T) {
			r := stateOf(t, tt.from)
			if r.State != tt.from {
				t.Fatalf("fixture state = %s, want %s", r.State, tt.from)
			}
			got, err := tt.op(r)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "rollout r1: "+tt.name) {
				t.Errorf("error %q does not name the rollout and command", err)
			}
			if got.State != tt.want {
				t.Errorf("state = %s, want %s", got.State, tt.want)
			}
			if err != nil && !reflect.DeepEqual(got, r) {
				t.Errorf("a refused command changed the rollout")
			}
		})
	}
}

func TestAbortRollsBackEveryReachedDevice(t *testing.T) {
	r := stateOf(t, StatePromoting)
	r, acts := Next(r, Observations{SLO: slo, Devices: devices(4)}, t0.Add(time.Minute)) // stage 1 installs pending
	if len(acts) != 1 || r.Stage != 1 {
		t.Fatalf("stage %d, actions %v", r.Stage, acts)
	}
	a, err := Abort(r, t0.Add(time.Minute), "operator says no")
	if err != nil {
		t.Fatal(err)
	}
	_, acts = Next(a, Observations{}, t0.Add(2*time.Minute))
	if len(acts) != 1 || acts[0].Kind != ActionRollback || !slices.Equal(acts[0].Devices, devices(4)) || acts[0].Variant != "v1" {
		t.Fatalf("abort actions = %+v, want a rollback of all 4 devices to v1", acts)
	}
	if !strings.Contains(a.Message, "aborted by operator at stage 1: operator says no") {
		t.Errorf("message = %q", a.Message)
	}
}

func TestPausedRolloutDoesNotMove(t *testing.T) {
	r := stateOf(t, StatePaused)
	obs := Observations{SLO: slo, Devices: devices(4)}
	for _, id := range r.Cohorts[0] {
		obs.Reports = append(obs.Reports, Report{DeviceID: id, Variant: "v2", Received: t0.Add(time.Second), OK: true, P95: time.Second})
	}
	got, acts := Next(r, obs, t0.Add(time.Hour))
	if len(acts) != 0 || !reflect.DeepEqual(got, r) {
		t.Fatalf("paused rollout moved: %s, %v", got.State, acts)
	}
	res, err := Resume(r, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Next(res, obs, t0.Add(time.Hour)); got.State != StateRolledBack {
		t.Errorf("after resume: state %s, want rolled-back on the slow reports", got.State)
	}
}

func TestPromoteRecordsAManualGate(t *testing.T) {
	r := stateOf(t, StateBaking)
	p, err := Promote(r, t0.Add(time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Gates[len(p.Gates)-1]; !g.Passed || !g.Promoted || g.Stage != 0 {
		t.Errorf("gate = %+v, want a promoted pass of stage 0", g)
	}
	n, acts := Next(p, Observations{SLO: slo, Devices: devices(4)}, t0.Add(2*time.Second))
	if n.Stage != 1 || n.State != StateBaking || len(acts) != 1 {
		t.Errorf("after promote: stage %d state %s", n.Stage, n.State)
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		id, cls string
		variant string
		prev    string
		plan    Plan
		want    []string
	}{
		{"bad names", "R 1", "", "v2", "v1", Plan{}, []string{"id", "class"}},
		{"same variant", "r1", "c", "v1", "v1", Plan{}, []string{"variant"}},
		{"stages not increasing", "r1", "c", "v2", "", Plan{Stages: []float64{50, 25, 100}}, []string{"plan.stages[1]"}},
		{"last not 100", "r1", "c", "v2", "", Plan{Stages: []float64{5, 50}}, []string{"plan.stages[1]"}},
		{"zero stage", "r1", "c", "v2", "", Plan{Stages: []float64{0, 100}}, []string{"plan.stages[0]"}},
		{"negative bake", "r1", "c", "v2", "", Plan{BakeTime: -1, MinReports: -2}, []string{"plan.bakeTime", "plan.minReports"}},
		{"too many stages", "r1", "c", "v2", "", Plan{Stages: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 100}}, []string{"plan.stages"}},
		{"confirmations out of range", "r1", "c", "v2", "", Plan{LatencyConfirmations: MaxLatencyConfirmations + 1}, []string{"plan.latencyConfirmations"}},
		{"negative confirmations", "r1", "c", "v2", "", Plan{LatencyConfirmations: -1}, []string{"plan.latencyConfirmations"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.id, tt.cls, tt.variant, tt.prev, tt.plan, t0)
			var list profiles.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error = %v, want an ErrorList", err)
			}
			if got := list.Fields(); !slices.Equal(got, tt.want) {
				t.Errorf("fields = %q, want %q (%v)", got, tt.want, err)
			}
		})
	}
	r, err := New("r1", "c", "v2", "", Plan{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Plan.Stages, DefaultStages) || r.Plan.MinReports != 1 || r.Plan.ReportTimeout.D() != DefaultReportTimeout || r.Plan.LatencyConfirmations != DefaultLatencyConfirmations {
		t.Errorf("defaults = %+v", r.Plan)
	}
}

// TestNextTable covers every state with the observations that move it or not.
func TestNextTable(t *testing.T) {
	four := devices(4)
	goodAll := func(r Rollout) []Report {
		var reps []Report
		for _, id := range r.Installed() {
			reps = append(reps, good(id, t0))
		}
		return reps
	}
	slowOne := func(r Rollout) []Report {
		reps := goodAll(r)
		reps[0].P95 = 50 * time.Millisecond // over the 35ms slo, under 3× it
		return reps
	}
	slowTwice := func(r Rollout) []Report {
		reps := slowOne(r)
		again := reps[0]
		again.Received = again.Received.Add(time.Second)
		return append(reps, again)
	}
	none := func(Rollout) []Report { return nil }
	tests := []struct {
		name      string
		from      State
		executed  bool // confirm the fixture's pending actions first
		prepare   func(*Rollout)
		devices   []string
		reports   func(Rollout) []Report
		after     time.Duration
		want      State
		wantKinds []ActionKind
	}{
		{"pending without devices waits", StatePending, true, nil, nil, none, 0, StatePending, nil},
		{"pending with devices enters stage 0", StatePending, true, nil, four, none, 0, StateBaking, []ActionKind{ActionInstall}},
		{"baking with installs unconfirmed repeats them", StateBaking, false, func(r *Rollout) {
			r.Pending = []Action{{ID: "r1-s0-install", Kind: ActionInstall, Devices: r.Cohorts[0]}}
			r.StageStartedAt = time.Time{}
		}, four, goodAll, time.Hour, StateBaking, []ActionKind{ActionInstall}},
		{"baking before the bake time waits", StateBaking, true, nil, four, goodAll, 0, StateBaking, nil},
		{"baking without reports waits", StateBaking, true, nil, four, none, time.Minute, StateBaking, nil},
		{"baking with good reports after the bake time passes", StateBaking, true, nil, four, goodAll, time.Minute, StatePromoting, nil},
		{"baking with a slow report measures again", StateBaking, true, nil, four, slowOne, 0, StateBaking, []ActionKind{ActionRemeasure}},
		{"baking with two slow reports in a row rolls back", StateBaking, true, nil, four, slowTwice, 0, StateRolledBack, []ActionKind{ActionRollback, ActionFeedback}},
		{"baking past the report timeout rolls back", StateBaking, true, nil, four, none, time.Hour, StateRolledBack, []ActionKind{ActionRollback, ActionFeedback}},
		{"promoting enters the next stage", StatePromoting, true, nil, four, goodAll, 0, StateBaking, []ActionKind{ActionInstall}},
		{"succeeded repeats its action until confirmed", StateSucceeded, false, func(r *Rollout) {
			r.Pending = []Action{{ID: "r1-succeeded", Kind: ActionSucceeded, Variant: "v2"}}
		}, four, goodAll, 0, StateSucceeded, []ActionKind{ActionSucceeded}},
		{"succeeded stays", StateSucceeded, true, nil, four, slowOne, time.Hour, StateSucceeded, nil},
		{"rolled back stays", StateRolledBack, true, nil, four, goodAll, time.Hour, StateRolledBack, nil},
		{"rolled back repeats its rollback until confirmed", StateRolledBack, false, func(r *Rollout) {
			r.Pending = append(rollbackActions(*r, "r1-rollback", "x"), Action{ID: "r1-s0-feedback", Kind: ActionFeedback})
		}, four, goodAll, time.Hour, StateRolledBack, []ActionKind{ActionRollback, ActionFeedback}},
		{"aborted stays", StateAborted, true, nil, four, goodAll, time.Hour, StateAborted, nil},
		{"paused stays", StatePaused, true, nil, four, slowOne, time.Hour, StatePaused, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := stateOf(t, tt.from)
			if tt.prepare != nil {
				tt.prepare(&r)
			}
			if tt.executed {
				r = Executed(r, t0)
			}
			got, acts := Next(r, Observations{SLO: slo, Devices: tt.devices, Reports: tt.reports(r)}, t0.Add(tt.after))
			if got.State != tt.want {
				t.Errorf("state = %s, want %s (%s)", got.State, tt.want, got.Message)
			}
			var kinds []ActionKind
			for _, a := range acts {
				kinds = append(kinds, a.Kind)
			}
			if !slices.Equal(kinds, tt.wantKinds) {
				t.Errorf("actions = %v, want %v", kinds, tt.wantKinds)
			}
			if len(acts) == 0 {
				// A step without actions leaves nothing pending.
				if len(got.Pending) != 0 {
					t.Errorf("no actions returned but %d pending", len(got.Pending))
				}
			}
		})
	}
}

// TestLatencyViolationNeedsConfirmation checks Plan.LatencyConfirmations: one slow
// report asks its device to measure again, once; a report within the SLO clears it,
// a second slow one fails the gate, and so does silence past the report timeout.
func TestLatencyViolationNeedsConfirmation(t *testing.T) {
	plan := Plan{Stages: []float64{100}, BakeTime: profiles.Duration(time.Minute), MinReports: 1, ReportTimeout: profiles.Duration(5 * time.Minute)}
	start := func(t *testing.T) (*coordinator, Observations, Rollout) {
		c := &coordinator{t: t}
		c.save(newRollout(t, plan))
		obs := Observations{SLO: slo, Devices: devices(2)}
		r := c.step(obs, t0)
		slow := good("dev-00", t0.Add(time.Second))
		slow.P95 = 50 * time.Millisecond
		obs.Reports = []Report{slow, good("dev-01", t0.Add(time.Second))}
		c.actions = nil
		r = c.step(obs, t0.Add(2*time.Minute))
		if r.State != StateBaking || len(c.actions) != 1 || c.actions[0].Kind != ActionRemeasure || !slices.Equal(c.actions[0].Devices, []string{"dev-00"}) {
			t.Fatalf("after one slow report: state %s, actions %+v; want baking and a remeasure of dev-00", r.State, c.actions)
		}
		if !strings.Contains(r.Message, "measuring again to confirm: device dev-00: 1 of 2") {
			t.Errorf("message %q", r.Message)
		}
		// Asked once: waiting asks no more.
		r = c.step(obs, t0.Add(3*time.Minute))
		if r.State != StateBaking || len(c.actions) != 1 {
			t.Fatalf("waiting for the new measurement: state %s, %d actions; want baking and no new action", r.State, len(c.actions))
		}
		return c, obs, r
	}
	t.Run("a good measurement clears it", func(t *testing.T) {
		c, obs, _ := start(t)
		obs.Reports = append(obs.Reports, good("dev-00", t0.Add(3*time.Minute)))
		r := c.step(obs, t0.Add(4*time.Minute))
		if r.State != StatePromoting {
			t.Fatalf("state %s (%s), want promoting", r.State, r.Message)
		}
	})
	t.Run("a second slow one fails the gate", func(t *testing.T) {
		c, obs, _ := start(t)
		again := good("dev-00", t0.Add(3*time.Minute))
		again.P95 = 60 * time.Millisecond
		obs.Reports = append(obs.Reports, again)
		r := c.step(obs, t0.Add(4*time.Minute))
		if r.State != StateRolledBack || !strings.Contains(r.Message, "device dev-00: p95 60ms > slo 35ms (2 reports in a row)") {
			t.Fatalf("state %s, message %q; want rolled back naming dev-00's two slow reports", r.State, r.Message)
		}
	})
	t.Run("silence past the timeout fails the gate", func(t *testing.T) {
		c, obs, _ := start(t)
		r := c.step(obs, t0.Add(8*time.Minute))
		if r.State != StateRolledBack || !strings.Contains(r.Message, "no new measurement within 5m0s") {
			t.Fatalf("state %s, message %q; want rolled back for no new measurement", r.State, r.Message)
		}
	})
	t.Run("a gross miss does not wait", func(t *testing.T) {
		c := &coordinator{t: t}
		c.save(newRollout(t, plan))
		obs := Observations{SLO: slo, Devices: devices(2)}
		c.step(obs, t0)
		gross := good("dev-00", t0.Add(time.Second))
		gross.P95 = 110 * time.Millisecond // over 3× the 35ms slo
		obs.Reports = []Report{gross}
		r := c.step(obs, t0.Add(2*time.Second))
		if r.State != StateRolledBack || !strings.Contains(r.Message, "device dev-00: p95 110ms > slo 35ms") {
			t.Fatalf("state %s, message %q; want rolled back at once", r.State, r.Message)
		}
	})
	t.Run("hard failures do not wait", func(t *testing.T) {
		c := &coordinator{t: t}
		c.save(newRollout(t, plan))
		obs := Observations{SLO: slo, Devices: devices(2)}
		c.step(obs, t0)
		bad := good("dev-00", t0.Add(time.Second))
		bad.P95, bad.ParityOK = 50*time.Millisecond, false
		obs.Reports = []Report{bad}
		r := c.step(obs, t0.Add(2*time.Second))
		if r.State != StateRolledBack || !strings.Contains(r.Message, "output parity failed") {
			t.Fatalf("state %s, message %q; want rolled back at once", r.State, r.Message)
		}
	})
}
