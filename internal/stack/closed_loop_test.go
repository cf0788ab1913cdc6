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
	"github.com/fleetprune/fleetprune/internal/stack"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/rollout"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

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

// TestClosedLoop runs the whole loop on embedded etcd and NATS with two coordinators
// and local agents, in one fleet (one base model, one sensitivity analysis):
//   - classes "loose" and "tight" of identical devices with a loose and a tight p95
//     SLO: both reach a verdict, the tight class gets the smaller variant, each
//     accepted variant's measured p95 is within its SLO, and both roll out;
//   - the leading coordinator is stopped while a variant is being measured, and the
//     next one while a rollout bakes a later stage: each standby continues from etcd
//     with no variant built twice and no stage skipped or repeated;
//   - class "impossible" (p95 1µs) ends infeasible with the binding limit named;
//   - class "empty" has no devices: it waits and says so;
//   - class "gate" has a device under a heavier CPU limit outside the probe cohort: the
//     rollout gate fails, the reached devices roll back, and tuning starts again with
//     the devices that failed the gate (the slow one, unless noise failed another
//     first; said in the log) among the probes.
func TestClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a model, tunes five classes and rolls out; run without -short")
	}
	ctx := context.Background()
	onnxBytes, g := baseModel(t)
	base := measureP95(t, g)
	loose := time.Duration(float64(base) * 0.9)
	tight := time.Duration(float64(base) * 0.5)
	// The gate class must prune (so a rollout happens) with room for its probes.
	gateSLO := time.Duration(float64(base) * 0.6)
	t.Logf("base p95 on one thread here: %v; slo loose %v, tight %v", base, loose, tight)
	gateTest := cgroupCPU() == nil
	if !gateTest {
		t.Logf("no writable cgroup cpu controller: the gate-failure part is left out (%v)", cgroupCPU())
	}

	s, _ := testStack(t, 2)
	first, err := s.WaitLeader(ctx, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	classes := fmt.Sprintf(`  - name: loose
    selector: "tier=loose"
    baseModel: lenet5
    channelMultiple: 2
    slo: {p95Latency: %dus, maxAccuracyDrop: 15}
  - name: tight
    selector: "tier=tight"
    baseModel: lenet5
    channelMultiple: 2
    slo: {p95Latency: %dus, maxAccuracyDrop: 30}
  - name: impossible
    selector: "tier=imp"
    baseModel: lenet5
    slo: {p95Latency: 1us, maxAccuracyDrop: 50}
  - name: empty
    selector: "tier=nobody"
    baseModel: lenet5
    slo: {p95Latency: 10ms, maxAccuracyDrop: 1}
  - name: gate
    selector: "tier=gate"
    baseModel: lenet5
    channelMultiple: 2
    slo: {p95Latency: %dus, maxAccuracyDrop: 15}
`, loose.Microseconds(), tight.Microseconds(), gateSLO.Microseconds())
	applyFleet(t, first, onnxBytes, classes)
	for _, id := range []string{"loose-a", "loose-b", "loose-c"} {
		startAgent(t, s, id, map[string]string{"tier": "loose"})
	}
	for _, id := range []string{"tight-a", "tight-b"} {
		startAgent(t, s, id, map[string]string{"tier": "tight"})
	}
	startAgent(t, s, "imp-a", map[string]string{"tier": "imp"})
	if gateTest {
		// Probe cohorts take the first devices by id: the slow one sorts last.
		startAgent(t, s, "gate-a", map[string]string{"tier": "gate"})
		startAgent(t, s, "gate-b", map[string]string{"tier": "gate"})
		startAgent(t, s, "gate-zz-slow", map[string]string{"tier": "gate"}, agent.WithCPUQuota(0.1))
	}

	// Failover in the middle of tuning: once the loose class has a variant out on
	// its probe cohort.
	waitFor(t, 5*time.Minute, "a loose variant being measured", func() bool {
		st := tuningState(t, s, "loose")
		return st != nil && st.Base != nil && (st.Pending != nil || st.Phase == tuning.PhaseDone)
	})
	t.Logf("stopping leader %s mid-tuning: %s", first.Name, tuningState(t, s, "loose").Message)
	first.Stop()
	if _, err := s.StartNode(ctx, "c3", "-"); err != nil {
		t.Fatal(err)
	}
	second, err := s.WaitLeader(ctx, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader now %s", second.Name)

	stLoose := waitVerdict(t, s, "loose", 6*time.Minute)
	stTight := waitVerdict(t, s, "tight", 6*time.Minute)
	for _, st := range []*tuning.State{stLoose, stTight} {
		t.Logf("class %s: verdict %s (%s), accepted %s after %d variants", st.Class, st.Verdict, st.Reason, st.Accepted, len(st.Trials))
		if st.Verdict != tuning.Met {
			t.Fatalf("class %s: verdict %q: %s", st.Class, st.Verdict, st.Reason)
		}
		// A later generation is legitimate only when a rollout gate sent the class back
		// to tuning; a failover alone must not restart the run.
		if st.Generation != 1 && !strings.Contains(st.RetuneReason, "gate failed") {
			t.Errorf("class %s: generation %d (%q): a standby must continue a run, not restart it", st.Class, st.Generation, st.RetuneReason)
		}
		checkTrials(t, st)
	}
	accLoose, accTight := record(stLoose, stLoose.Accepted), record(stTight, stTight.Accepted)
	if accLoose == nil || accTight == nil {
		t.Fatalf("accepted variants not among the records: %q, %q", stLoose.Accepted, stTight.Accepted)
	}
	if accTight.MACs >= accLoose.MACs {
		t.Errorf("tight class got %d MACs, loose class %d: want the tighter class to get the smaller variant", accTight.MACs, accLoose.MACs)
	}
	if accLoose.P95 > loose || accTight.P95 > tight {
		t.Errorf("accepted p95: loose %v (slo %v), tight %v (slo %v)", accLoose.P95, loose, accTight.P95, tight)
	}

	// Failover in the middle of a rollout: the first class that pruned bakes a later
	// stage when its leader is stopped.
	rolled := false
	for _, c := range []struct {
		st      *tuning.State
		devices []string
	}{{stLoose, []string{"loose-a", "loose-b", "loose-c"}}, {stTight, []string{"tight-a", "tight-b"}}} {
		if c.st.Accepted == c.st.Base.VariantID {
			continue
		}
		id := "ro-" + c.st.Accepted
		if !rolled {
			waitStage(t, s, c.st.Class, id, 1, 3*time.Minute)
			t.Logf("stopping leader %s mid-rollout of %s", second.Name, id)
			second.Stop()
			if _, err := s.StartNode(ctx, "c4", "-"); err != nil {
				t.Fatal(err)
			}
			rolled = true
		}
		r := waitFinal(t, s, c.st.Class, id, 3*time.Minute)
		if r.State != rollout.StateSucceeded {
			// A gate may fail on a busy machine's noise: the variant sits close to the
			// SLO by design. The failover property still holds for what was done.
			t.Logf("rollout %s ended %s: %s", id, r.State, r.Message)
			checkStages(t, r, -1)
			continue
		}
		checkStages(t, r, len(c.devices))
		waitInstalled(t, s, c.devices, c.st.Accepted, time.Minute)
	}
	if !rolled {
		t.Errorf("neither loose nor tight needed pruning: no rollout to fail over in")
	}

	imp := waitVerdict(t, s, "impossible", 4*time.Minute)
	if imp.Verdict != tuning.Infeasible || !strings.Contains(imp.Reason, "smallest valid model") || !strings.Contains(imp.Reason, "slo 1µs") {
		t.Errorf("impossible class: verdict %q, reason %q: want infeasible naming the smallest valid model and the p95 limit", imp.Verdict, imp.Reason)
	}
	if n := len(imp.Trials); n == 0 || n > tuning.DefaultMaxIterations {
		t.Errorf("impossible class: %d variants built, want 1..%d", n, tuning.DefaultMaxIterations)
	}
	empty := tuningState(t, s, "empty")
	if empty == nil || empty.Phase != tuning.PhaseWaitingDevices || !strings.Contains(empty.Message, "no present device") {
		t.Errorf("empty class state %+v, want waiting with a message that there is no device", empty)
	}

	if gateTest {
		checkGateFailure(t, s, gateSLO)
	}
}

func checkGateFailure(t *testing.T, s *stack.Stack, slo time.Duration) {
	t.Helper()
	ctx := context.Background()
	cli, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// The gate class may already be past its rollback when we look: find the
	// rolled-back rollout among all of the class's rollouts.
	var r rollout.Rollout
	defer func() {
		if !t.Failed() {
			return
		}
		// Say where the class got to.
		if st := tuningState(t, s, "gate"); st != nil {
			t.Logf("class gate: tuning phase %s, verdict %q, generation %d: %s", st.Phase, st.Verdict, st.Generation, st.Message)
		}
		list, err := rollout.NewStore(cli).List(ctx, "gate")
		if err != nil {
			return
		}
		for _, st := range list {
			t.Logf("class gate: rollout %s %s: %s%s", st.Rollout.ID, st.Rollout.State, st.Rollout.Message, history(st.Rollout))
		}
		for _, dev := range []string{"gate-a", "gate-b", "gate-zz-slow"} {
			resp, err := cli.Get(ctx, profiles.Prefix+"reports/gate/"+dev+"/", clientv3.WithPrefix())
			if err != nil {
				return
			}
			for _, kv := range resp.Kvs {
				var rep fpv1.Report
				if proto.Unmarshal(kv.Value, &rep) == nil {
					t.Logf("class gate: %s report %s %s rollout %q ok %v p95 %v threads %d", dev, rep.GetKind(), rep.GetVariantId(), rep.GetRolloutId(), rep.GetOk(), time.Duration(rep.GetP95Ns()), rep.GetThreads())
				}
			}
		}
	}()
	waitFor(t, 6*time.Minute, "a rolled-back or succeeded rollout in class gate", func() bool {
		list, err := rollout.NewStore(cli).List(ctx, "gate")
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range list {
			if (st.Rollout.State == rollout.StateRolledBack || st.Rollout.State == rollout.StateSucceeded) && len(st.Rollout.Pending) == 0 {
				r = st.Rollout
				return true
			}
		}
		return false
	})
	if r.State == rollout.StateSucceeded {
		// The gates passed: that is right only if the quota device never measured the
		// variant over the SLO. On this machine its cgroup quota has, in a few runs,
		// not slowed a benchmark of a small pruned variant (see the session-2 note);
		// then the failure path was not exercised, which is said, not hidden.
		// A report over GrossLatencyFactor × the slo fails a gate at once; milder ones
		// may be cleared by a remeasure.
		gross := time.Duration(rollout.GrossLatencyFactor) * slo
		if slow := slowReports(t, cli, "gate-zz-slow", r.ID, gross); len(slow) > 0 {
			t.Fatalf("rollout %s succeeded although gate-zz-slow reported %v, over %v (3× the slo)", r.ID, slow, gross)
		}
		t.Logf("rollout %s succeeded: gate-zz-slow (0.1-core quota) measured the variant within the %v slo, so the gate-failure path was not exercised in this run", r.ID, slo)
		return
	}
	last := r.Gates[len(r.Gates)-1]
	if last.Passed || len(last.Failing) == 0 {
		t.Errorf("last gate %+v: want a failure naming the devices that failed it", last)
	}
	if !slices.Contains(last.Failing, "gate-zz-slow") {
		// A normal device can fail the gate on a busy machine's noise (CI runs other
		// packages' tests beside this one: 105-115µs against a 91µs SLO, three reports
		// in a row), before or instead of the quota device, whose throttling shows in
		// a small variant's p95 only when runs straddle a period's end. The rollback
		// and the retune are checked all the same, for the devices that failed.
		t.Logf("the gate failed on %v, not on gate-zz-slow (0.1-core quota): the slow-device path was not exercised in this run", last.Failing)
	}
	// Every device the rollout reached reported its rollback to the previous variant.
	for _, dev := range r.Installed() {
		waitFor(t, time.Minute, "a rollback report from "+dev, func() bool {
			resp, err := cli.Get(ctx, profiles.Prefix+"reports/gate/"+dev+"/", clientv3.WithPrefix())
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range resp.Kvs {
				var rep fpv1.Report
				if proto.Unmarshal(kv.Value, &rep) == nil && rep.GetKind() == "rollback" && rep.GetRolloutId() == r.ID &&
					rep.GetOk() && rep.GetInstalledVariant() == r.Previous {
					return true
				}
			}
			return false
		})
	}
	waitFor(t, time.Minute, "a retune after the rollback", func() bool {
		return tuningState(t, s, "gate").Generation >= 2
	})
	next := tuningState(t, s, "gate")
	if !strings.Contains(next.RetuneReason, "gate failed") {
		t.Errorf("retune reason %q, want it to say the gate failed", next.RetuneReason)
	}
	for _, dev := range last.Failing {
		if !slices.Contains(next.ProbeCohort, dev) {
			t.Errorf("generation %d probe cohort %v, want %s, which failed the gate, in it", next.Generation, next.ProbeCohort, dev)
		}
	}
}

// checkStages asserts that the rollout reached every device once, in as many
// cohorts as stages, entering each stage once.
func checkStages(t *testing.T, r rollout.Rollout, devices int) {
	t.Helper()
	if got, want := len(r.Cohorts), len(r.Plan.Stages); got != want && devices >= 0 || got > want {
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
	if devices >= 0 && len(all) != devices {
		t.Errorf("rollout reached %d devices, want %d: %v", len(all), devices, r.Cohorts)
	}
	entered := map[int]int{}
	for _, ev := range r.History {
		if ev.To == rollout.StateBaking && ev.From != rollout.StateBaking { // not a remeasure note
			entered[ev.Stage]++
		}
	}
	for stage, n := range entered {
		if n != 1 {
			t.Errorf("stage %d entered %d times; history: %s", stage, n, history(r))
		}
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
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

// checkTrials asserts that no variant was recorded twice and that the variants of the
// current generation were built in order, none skipped or built again.
func checkTrials(t *testing.T, st *tuning.State) {
	t.Helper()
	seen := map[string]bool{}
	prefix := fmt.Sprintf("g%d-v", st.Generation)
	for i, tr := range st.Trials {
		if seen[tr.VariantID] {
			t.Errorf("class %s: variant %s recorded twice", st.Class, tr.VariantID)
		}
		seen[tr.VariantID] = true
		if strings.HasPrefix(tr.VariantID, prefix) {
			if want := fmt.Sprintf("%s%d", prefix, i+1); tr.VariantID != want {
				t.Errorf("class %s: trial %d is %s, want %s: a variant was skipped or built twice", st.Class, i, tr.VariantID, want)
			}
		}
	}
}

func waitFinal(t *testing.T, s *stack.Stack, class, id string, timeout time.Duration) rollout.Rollout {
	t.Helper()
	cli, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	store := rollout.NewStore(cli)
	var r rollout.Rollout
	ended := false
	defer func() {
		if !ended {
			t.Logf("rollout %s: %s (%d pending): %s%s", id, r.State, len(r.Pending), r.Message, history(r))
		}
	}()
	waitFor(t, timeout, "the end of rollout "+id, func() bool {
		r, _, err = store.Get(context.Background(), class, id)
		return err == nil && r.State.Final() && len(r.Pending) == 0
	})
	ended = true
	return r
}

// slowReports returns the p95s of dev's reports for rollout id that are over limit.
func slowReports(t *testing.T, cli *clientv3.Client, dev, id string, limit time.Duration) []time.Duration {
	t.Helper()
	resp, err := cli.Get(context.Background(), profiles.Prefix+"reports/gate/"+dev+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var slow []time.Duration
	for _, kv := range resp.Kvs {
		var rep fpv1.Report
		if proto.Unmarshal(kv.Value, &rep) == nil && rep.GetRolloutId() == id && time.Duration(rep.GetP95Ns()) > limit {
			slow = append(slow, time.Duration(rep.GetP95Ns()))
		}
	}
	return slow
}
