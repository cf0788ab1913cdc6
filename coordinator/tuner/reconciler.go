package tuner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"sort"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/reconcile"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
)

// Fleet is what the tuner needs of the coordinator: its leadership fence, and
// publishing variants and commands (both refuse when it does not lead).
type Fleet interface {
	LeaderFence() (profiles.Fence, bool)
	Publish(ctx context.Context, class, variantID string, onnx []byte, meta coordinator.VariantMeta) (*fpv1.SignedManifest, error)
	SendCommand(ctx context.Context, class, device string, cmd *fpv1.Command) (*fpv1.Command, error)
	Devices(ctx context.Context) ([]coordinator.DeviceStatus, error)
}

// Artifacts reads model bytes from the model bucket by digest.
type Artifacts interface {
	Get(ctx context.Context, digest string) ([]byte, error)
}

// Result is the reconcile loop's requeue request.
type Result = reconcile.Result

// Reconciler tunes classes toward their SLO, one corrective step per Reconcile call.
type Reconciler struct {
	etcd      *clientv3.Client
	store     *profiles.Store
	fleet     Fleet
	artifacts Artifacts
	bench     *Workbench
	cfg       Config
}

// New returns a reconciler.
func New(etcd *clientv3.Client, fleet Fleet, artifacts Artifacts, bench *Workbench, cfg Config) *Reconciler {
	return &Reconciler{etcd: etcd, store: profiles.NewStore(etcd), fleet: fleet,
		artifacts: artifacts, bench: bench, cfg: cfg.withDefaults()}
}

// reportsPrefix is where the coordinator stores applied reports:
// reports/<class>/<device>/<seq>.
const reportsPrefix = profiles.Prefix + "reports/"

// SensitivityKey is where a base model's sensitivity curves are stored.
func SensitivityKey(model string) string { return profiles.Prefix + "sensitivity/" + model }

// Reconcile takes one step of class's tuning run and returns when to come back. It
// re-reads the class, its devices, its stored tuning state and the reports every
// time, so a call with nothing changed changes nothing, and a standby that takes over
// continues where the last leader's last committed step left off.
//
// A nil error with RequeueAfter > 0 means "waiting" (for devices, reports or
// leadership); an error means the step failed and should be retried with back-off;
// profiles.ErrNotLeader means leadership was lost.
func (r *Reconciler) Reconcile(ctx context.Context, class string) (Result, error) {
	f, ok := r.fleet.LeaderFence()
	if !ok {
		return Result{RequeueAfter: r.cfg.Poll}, nil
	}
	cls, err := r.store.Classes.Get(ctx, class)
	if errors.Is(err, profiles.ErrNotFound) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("tuner: %s: %w", class, err)
	}
	st, rev, err := LoadState(ctx, r.etcd, class)
	if err != nil {
		return Result{}, err
	}
	now := time.Now().UTC()
	if st == nil || st.Model != cls.BaseModel {
		gen := 1
		if st != nil {
			gen = st.Generation + 1
		}
		st = &tuning.State{Class: class, Model: cls.BaseModel, Generation: gen, StartedAt: now}
	}
	if st.Phase == tuning.PhaseDone {
		return Result{}, nil
	}
	save := func(phase tuning.Phase, msg string) error {
		st.Phase, st.Message, st.UpdatedAt = phase, msg, time.Now().UTC()
		nrev, err := r.saveState(ctx, f, st, rev)
		rev = nrev
		return err
	}
	wait := func(phase tuning.Phase, msg string) (Result, error) {
		if st.Phase == phase && st.Message == msg {
			return Result{RequeueAfter: r.cfg.Poll}, nil
		}
		return Result{RequeueAfter: r.cfg.Poll}, save(phase, msg)
	}

	model, err := r.store.Models.Get(ctx, cls.BaseModel)
	if errors.Is(err, profiles.ErrNotFound) {
		return wait(tuning.PhaseWaitingDevices, fmt.Sprintf("waiting: base model %q is not registered", cls.BaseModel))
	}
	if err != nil {
		return Result{}, fmt.Errorf("tuner: %s: %w", class, err)
	}
	devices, err := r.presentDevices(ctx, class)
	if err != nil {
		return Result{}, err
	}
	if len(devices) == 0 {
		return wait(tuning.PhaseWaitingDevices, "waiting: the class has no present device")
	}
	cohort := r.cohort(st.ProbeCohort, devices)
	changed := !slices.Equal(cohort, st.ProbeCohort)
	st.ProbeCohort = cohort
	if st.Pending != nil {
		// A device that joined the cohort after the pending command went out would
		// otherwise be waited for until ReportTimeout: it was never asked.
		sent, err := r.probeNewcomers(ctx, st)
		if err != nil {
			return Result{}, err
		}
		changed = changed || sent
	}
	if changed {
		if err := save(st.Phase, st.Message); err != nil {
			return Result{}, err
		}
	}
	onnxBytes, err := r.artifacts.Get(ctx, model.Digest)
	if err != nil {
		return Result{}, fmt.Errorf("tuner: %s: base model %s: %w", class, model.Name, err)
	}
	base, err := r.bench.Load(ctx, model, onnxBytes)
	if err != nil {
		st.Verdict, st.Reason, st.FinishedAt = tuning.Infeasible, err.Error(), now
		return Result{}, save(tuning.PhaseDone, "the base model cannot be used")
	}

	// Measure the base model on the probe cohort.
	if st.Base == nil {
		if st.Pending == nil {
			rec := tuning.Record{Trial: tuning.Trial{Budget: 1, VariantID: fmt.Sprintf("g%d-base", st.Generation), ModelBytes: int64(len(onnxBytes))},
				Params: base.Metrics.Total.Params, Nonzero: base.Metrics.Total.NonZero, MACs: base.Metrics.Total.MACs, Accuracy: base.Accuracy}
			checksum, err := Checksum(ctx, base.Graph, base.InputShape, probeSeed(class, rec.VariantID))
			if err != nil {
				return Result{}, err
			}
			if err := r.send(ctx, st, rec, onnxBytes, model, base.InputShape, checksum, 1); err != nil {
				return Result{}, err
			}
			return Result{RequeueAfter: r.cfg.Poll}, save(tuning.PhaseMeasuringBase, "probe cohort benchmarks the base model")
		}
		rec, status, err := r.collect(ctx, st)
		if err != nil {
			return Result{}, err
		}
		switch status {
		case collectWaiting:
			return Result{RequeueAfter: r.cfg.Poll}, nil
		case collectResent:
			return Result{RequeueAfter: r.cfg.Poll}, save(st.Phase, fmt.Sprintf("measuring %s again (attempt %d)", st.Pending.VariantID, st.Pending.Attempt))
		}
		if rec == nil { // refused or failed everywhere
			st.Verdict, st.FinishedAt = tuning.Infeasible, now
			return Result{}, save(tuning.PhaseDone, "the probe cohort could not run the base model")
		}
		lm, err := tuning.NewLatencyModel(rec.layers, rec.P95)
		if err != nil {
			st.Verdict, st.Reason, st.FinishedAt = tuning.Infeasible, err.Error(), now
			return Result{}, save(tuning.PhaseDone, "no per-layer times from the probe cohort")
		}
		st.Base, st.Latency, st.Pending = &rec.Record, lm, nil
		return Result{RequeueAfter: time.Millisecond}, save(tuning.PhaseBuilding, fmt.Sprintf("base p95 %v on %d devices", rec.P95, len(rec.DeviceP95)))
	}

	curves, err := r.sensitivity(ctx, f, base)
	if err != nil {
		return Result{}, err
	}
	nodeTimes := st.Latency.NodeTimes()

	// A variant is out on the probe cohort: fold its measurements in.
	if st.Pending != nil {
		rec, status, err := r.collect(ctx, st)
		if err != nil {
			return Result{}, err
		}
		switch status {
		case collectWaiting:
			return Result{RequeueAfter: r.cfg.Poll}, nil
		case collectResent:
			return Result{RequeueAfter: r.cfg.Poll}, save(st.Phase, fmt.Sprintf("measuring %s again (attempt %d)", st.Pending.VariantID, st.Pending.Attempt))
		}
		if rec == nil {
			st.Verdict, st.FinishedAt = tuning.Infeasible, now
			return Result{}, save(tuning.PhaseDone, "the probe cohort could not run a variant")
		}
		st.Latency.Observe(rec.nodeShare, rec.P95)
		st.Trials = append(st.Trials, rec.Record)
		st.Pending = nil
		return Result{RequeueAfter: time.Millisecond}, save(tuning.PhaseBuilding, fmt.Sprintf("%s: p95 %v, accuracy drop %.2fpp", rec.VariantID, rec.P95, rec.AccuracyDrop))
	}

	minBudget, err := r.bench.MinBudget(base, curves, nodeTimes, cls.Multiple())
	if err != nil {
		return Result{}, err
	}
	search := r.cfg.Search
	search.MinBudget = minBudget
	search.BudgetFor = st.Latency.BudgetFor
	trials := make([]tuning.Trial, len(st.Trials))
	for i, t := range st.Trials {
		trials[i] = t.Trial
	}
	lim := Limits(cls.SLO)
	lim.Headroom = r.cfg.Headroom
	d := tuning.Decide(lim, st.Base.Trial, trials, search)
	switch d.Verdict {
	case tuning.Met, tuning.Infeasible:
		st.Verdict, st.Reason, st.FinishedAt = d.Verdict, d.Reason, now
		if d.Accepted != nil {
			st.Accepted = d.Accepted.VariantID
		}
		r.cfg.Log.Info("tuner: verdict", "class", class, "verdict", d.Verdict, "accepted", st.Accepted, "reason", d.Reason)
		return Result{}, save(tuning.PhaseDone, string(d.Verdict)+": "+d.Reason)
	}

	// Build the next variant.
	if err := save(tuning.PhaseBuilding, fmt.Sprintf("building a variant at budget %.3f: %s", d.NextBudget, d.Reason)); err != nil {
		return Result{}, err
	}
	id := fmt.Sprintf("g%d-v%d", st.Generation, len(st.Trials)+1)
	v, err := r.bench.Build(ctx, base, curves, nodeTimes, d.NextBudget, cls.Multiple(), probeSeed(class, id))
	if err != nil {
		return Result{}, fmt.Errorf("tuner: %s: %w", class, err)
	}
	rec := tuning.Record{
		Trial:     tuning.Trial{Budget: d.NextBudget, VariantID: id, AccuracyDrop: base.Accuracy - v.Accuracy, ModelBytes: int64(len(v.ONNX))},
		Iteration: len(st.Trials) + 1, Keep: v.NodeShare, Params: v.Params, Nonzero: v.Nonzero, MACs: v.MACs, Accuracy: v.Accuracy,
		Sparsity: 1 - float64(v.Params)/float64(max(base.Metrics.Total.Params, 1)),
	}
	r.cfg.Log.Info("tuner: variant built", "class", class, "variant", id, "budget", d.NextBudget, "accuracy", v.Accuracy, "macs", v.MACs)
	if prev := sameShape(st.Trials, rec); prev != nil {
		// The budget rounded to the channel counts of a variant already measured: its
		// cost is that variant's, and measuring it again would differ only by noise
		// (which once sent the search back and forth between such twins). The
		// accuracy is this variant's own. It is published, so it can be accepted.
		if _, err := r.publish(ctx, st.Class, id, v.ONNX, model, base.InputShape, v.Checksum); err != nil {
			return Result{}, err
		}
		rec.P95, rec.PeakMemory, rec.DeviceP95, rec.MeasuredAt = prev.P95, prev.PeakMemory, prev.DeviceP95, now
		st.Trials = append(st.Trials, rec)
		r.cfg.Log.Info("tuner: variant shaped like one measured", "class", class, "variant", id, "like", prev.VariantID, "p95", prev.P95)
		return Result{RequeueAfter: time.Millisecond}, save(tuning.PhaseBuilding, fmt.Sprintf("%s has the channels of %s: its p95 %v stands (not measured again), accuracy drop %.2fpp",
			id, prev.VariantID, prev.P95, rec.AccuracyDrop))
	}
	if err := r.send(ctx, st, rec, v.ONNX, model, base.InputShape, v.Checksum, 1); err != nil {
		return Result{}, err
	}
	return Result{RequeueAfter: r.cfg.Poll}, save(tuning.PhaseMeasuring, fmt.Sprintf("probe cohort benchmarks %s (budget %.3f)", id, d.NextBudget))
}

// sameShape returns the measured trial whose model has rec's shape (the same
// parameters, nonzeros, MACs and kept share of every layer), or nil.
func sameShape(trials []tuning.Record, rec tuning.Record) *tuning.Record {
	for i := range trials {
		t := &trials[i]
		if t.P95 > 0 && t.Params == rec.Params && t.Nonzero == rec.Nonzero && t.MACs == rec.MACs && maps.Equal(t.Keep, rec.Keep) {
			return t
		}
	}
	return nil
}

// send publishes a model as a variant of the class and sends a benchmark command to
// every probe device; it records the pending measurement in st (not yet saved).
// Command ids are derived from the variant, device and attempt, so a standby that
// sends again after a failover is de-duplicated by JetStream.
func (r *Reconciler) send(ctx context.Context, st *tuning.State, rec tuning.Record, onnxBytes []byte, model profiles.Model, inputShape []int64, checksum string, attempt int) error {
	signed, err := r.publish(ctx, st.Class, rec.VariantID, onnxBytes, model, inputShape, checksum)
	if err != nil {
		return err
	}
	p := &tuning.Pending{VariantID: rec.VariantID, Budget: rec.Budget, Record: rec, SentAt: time.Now().UTC(), Checksum: checksum, Attempt: attempt}
	st.Pending = p
	return r.sendProbes(ctx, st, signed, st.ProbeCohort)
}

// publish publishes a model as variant id of the class, with the probe seed its
// benchmarks use and the output checksum expected on the probe batch.
func (r *Reconciler) publish(ctx context.Context, class, id string, onnxBytes []byte, model profiles.Model, inputShape []int64, checksum string) (*fpv1.SignedManifest, error) {
	signed, err := r.fleet.Publish(ctx, class, id, onnxBytes, coordinator.VariantMeta{
		Model: model.Name, InputShape: inputShape, ProbeSeed: probeSeed(class, id), ExpectedChecksum: checksum,
	})
	if err != nil {
		return nil, fmt.Errorf("tuner: %s: publish %s: %w", class, id, err)
	}
	return signed, nil
}

// sendProbes sends the pending variant's benchmark command to devices and adds the
// command ids to st.Pending.
func (r *Reconciler) sendProbes(ctx context.Context, st *tuning.State, signed *fpv1.SignedManifest, devices []string) error {
	p := st.Pending
	for _, dev := range devices {
		cmd := &fpv1.Command{
			Id: commandID(st.Class, p.VariantID, dev, p.Attempt),
			Kind: &fpv1.Command_Benchmark{Benchmark: &fpv1.BenchmarkCommand{
				Manifest: signed, WarmupRuns: int32(r.cfg.WarmupRuns), TimedRuns: int32(r.cfg.TimedRuns), BatchSize: 1, Purpose: "probe",
			}},
		}
		if _, err := r.fleet.SendCommand(ctx, st.Class, dev, cmd); err != nil {
			return fmt.Errorf("tuner: %s: benchmark command to %s: %w", st.Class, dev, err)
		}
		p.Commands = append(p.Commands, cmd.Id)
	}
	return nil
}

// collectStatus is where collecting a pending measurement stands.
type collectStatus int

const (
	collectWaiting collectStatus = iota // reports still missing
	collectResent                       // commands sent again; st.Pending changed
	collectDone                         // measurement complete (or failed everywhere)
)

// MaxMeasureAttempts bounds how often one variant is measured: a measurement that
// contradicts the others (slower than a larger model) is repeated once, since a
// shared machine's hiccup must not steer the search.
const MaxMeasureAttempts = 2

// SuspectFactor is how much slower than a larger model a measurement must be to be
// repeated.
const SuspectFactor = 1.5

// OutlierFactor is how much slower than the class's latency model predicts a
// measurement must be to be repeated.
const OutlierFactor = 2.0

// suspect says why measurement m of a variant looks like a busy moment's rather than
// the variant's, or "": slower than a larger model measured (SuspectFactor), or far
// slower than the latency model predicts for it (OutlierFactor; predicted 0: no model).
func suspect(m tuning.Record, known []tuning.Record, predicted time.Duration) string {
	for _, k := range known {
		if k.Budget > m.Budget && k.P95 > 0 && float64(m.P95) > SuspectFactor*float64(k.P95) {
			return fmt.Sprintf("p95 %v is over %.1f× that of %s (%v), a larger model", m.P95, SuspectFactor, k.VariantID, k.P95)
		}
	}
	if predicted > 0 && float64(m.P95) > OutlierFactor*float64(predicted) {
		return fmt.Sprintf("p95 %v is over %.0f× the %v the class's latency model predicts", m.P95, OutlierFactor, predicted)
	}
	return ""
}

// measured is a probe cohort's combined measurement of the pending model.
type measured struct {
	tuning.Record
	layers    map[string]time.Duration
	nodeShare map[string]float64
}

// collect looks for the probe cohort's reports on the pending commands. done is
// false while reports are missing and the timeout has not passed; after it, present
// devices that did not report are sent the command again. A nil record with done
// true means every report said the model failed (the reason is put in st.Reason).
func (r *Reconciler) collect(ctx context.Context, st *tuning.State) (*measured, collectStatus, error) {
	p := st.Pending
	want := map[string]bool{}
	for _, id := range p.Commands {
		want[id] = true
	}
	var got []*fpv1.Report
	for _, dev := range st.ProbeCohort {
		rep, err := r.findReport(ctx, st.Class, dev, want)
		if err != nil {
			return nil, collectWaiting, err
		}
		if rep != nil {
			got = append(got, rep)
		}
	}
	if len(got) < len(st.ProbeCohort) {
		if time.Since(p.SentAt) < r.cfg.ReportTimeout {
			return nil, collectWaiting, nil
		}
		if len(got) == 0 {
			// Nobody answered in time: ask the present cohort again.
			r.cfg.Log.Warn("tuner: probe cohort silent; sending again", "class", st.Class, "variant", p.VariantID, "attempt", p.Attempt+1)
			return nil, collectResent, r.resend(ctx, st)
		}
	}
	var failures []string
	m := &measured{Record: p.Record, layers: map[string]time.Duration{}, nodeShare: p.Record.Keep}
	m.DeviceP95 = map[string]time.Duration{}
	layerSum := map[string]time.Duration{}
	var ok int
	for _, rep := range got {
		if !rep.GetOk() {
			failures = append(failures, fmt.Sprintf("%s: %s", rep.GetDeviceId(), rep.GetError()))
			continue
		}
		ok++
		p95 := time.Duration(rep.GetP95Ns())
		m.DeviceP95[rep.GetDeviceId()] = p95
		// The class SLO must hold on every device: judge by the slowest.
		m.P95 = max(m.P95, p95)
		m.PeakMemory = max(m.PeakMemory, int64(rep.GetPeakRssBytes()))
		for _, l := range rep.GetLayers() {
			layerSum[l.GetNode()] += time.Duration(l.GetMeanNs())
		}
	}
	if ok == 0 {
		st.Reason = fmt.Sprintf("%s failed on every probe device: %v", p.VariantID, failures)
		return nil, collectDone, nil
	}
	for n, d := range layerSum {
		m.layers[n] = d / time.Duration(ok)
	}
	if base := st.Base; base != nil {
		m.AccuracyDrop = base.Accuracy - m.Accuracy
	}
	m.MeasuredAt = time.Now().UTC()
	if p.Attempt < MaxMeasureAttempts {
		known := append([]tuning.Record(nil), st.Trials...)
		if st.Base != nil {
			known = append(known, *st.Base)
		}
		var predicted time.Duration
		if st.Latency != nil {
			predicted = st.Latency.Predict(m.nodeShare)
		}
		if why := suspect(m.Record, known, predicted); why != "" {
			r.cfg.Log.Warn("tuner: measurement looks like noise; measuring again",
				"class", st.Class, "variant", p.VariantID, "p95", m.P95, "why", why)
			return nil, collectResent, r.resend(ctx, st)
		}
	}
	return m, collectDone, nil
}

// resend sends the pending variant's command again, as a new attempt, to the whole
// probe cohort.
func (r *Reconciler) resend(ctx context.Context, st *tuning.State) error {
	p := st.Pending
	signed, err := r.pendingManifest(ctx, st)
	if err != nil {
		return err
	}
	p.Attempt, p.SentAt, p.Commands = p.Attempt+1, time.Now().UTC(), nil
	return r.sendProbes(ctx, st, signed, st.ProbeCohort)
}

// probeNewcomers sends the pending variant's command to the probe devices that have
// none, those that joined the cohort after it was sent, and says whether it sent any.
// Their reports count like the others'; the ReportTimeout still runs from SentAt.
func (r *Reconciler) probeNewcomers(ctx context.Context, st *tuning.State) (bool, error) {
	p := st.Pending
	var missing []string
	for _, dev := range st.ProbeCohort {
		if !slices.Contains(p.Commands, commandID(st.Class, p.VariantID, dev, p.Attempt)) {
			missing = append(missing, dev)
		}
	}
	if len(missing) == 0 {
		return false, nil
	}
	signed, err := r.pendingManifest(ctx, st)
	if err != nil {
		return false, err
	}
	r.cfg.Log.Info("tuner: probe cohort grew; sending the pending command to the newcomers",
		"class", st.Class, "variant", p.VariantID, "devices", missing)
	return true, r.sendProbes(ctx, st, signed, missing)
}

// pendingManifest reads the signed manifest of the pending variant from its record.
func (r *Reconciler) pendingManifest(ctx context.Context, st *tuning.State) (*fpv1.SignedManifest, error) {
	p := st.Pending
	var v coordinator.Variant
	resp, err := r.etcd.Get(ctx, profiles.VariantKey(st.Class, p.VariantID))
	if err != nil {
		return nil, fmt.Errorf("tuner: read variant %s: %w", p.VariantID, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("tuner: variant %s of %s is not recorded", p.VariantID, st.Class)
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return nil, fmt.Errorf("tuner: decode variant %s: %w", p.VariantID, err)
	}
	return v.Signed(), nil
}

// ReadReports returns up to limit of the device's newest applied reports, newest
// first (limit 0: all). Reports that do not decode are skipped: the coordinator
// validated them on the way in.
func ReadReports(ctx context.Context, kv clientv3.KV, class, device string, limit int64) ([]*fpv1.Report, error) {
	resp, err := kv.Get(ctx, reportsPrefix+class+"/"+device+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("reports of %s/%s: %w", class, device, err)
	}
	out := make([]*fpv1.Report, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var rep fpv1.Report
		if proto.Unmarshal(kv.Value, &rep) == nil {
			out = append(out, &rep)
		}
	}
	return out, nil
}

// findReport returns the device's newest applied report answering one of the wanted
// command ids, or nil.
func (r *Reconciler) findReport(ctx context.Context, class, device string, want map[string]bool) (*fpv1.Report, error) {
	reps, err := ReadReports(ctx, r.etcd, class, device, 64)
	if err != nil {
		return nil, fmt.Errorf("tuner: %w", err)
	}
	for _, rep := range reps {
		if want[rep.GetCommandId()] {
			return rep, nil
		}
	}
	return nil, nil
}

// presentDevices lists the class's devices that are present, sorted by id.
func (r *Reconciler) presentDevices(ctx context.Context, class string) ([]string, error) {
	devs, err := r.fleet.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("tuner: devices: %w", err)
	}
	var out []string
	for _, d := range devs {
		if d.Class == class && d.Presence == coordinator.PresenceLive {
			out = append(out, d.ID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// cohort keeps the present members of the old cohort and fills up to ProbeSize from
// the present devices in id order, so every leader picks the same cohort.
func (r *Reconciler) cohort(old, present []string) []string {
	var out []string
	for _, d := range old {
		if slices.Contains(present, d) {
			out = append(out, d)
		}
	}
	for _, d := range present {
		if len(out) >= r.cfg.ProbeSize {
			break
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// sensitivity returns the base model's stored curves, computing and storing them the
// first time.
func (r *Reconciler) sensitivity(ctx context.Context, f profiles.Fence, b *Base) (*sensitivity.Curves, error) {
	key := SensitivityKey(b.Model.Name)
	resp, err := r.etcd.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("tuner: read sensitivity of %s: %w", b.Model.Name, err)
	}
	if len(resp.Kvs) > 0 {
		c, err := sensitivity.Decode(bytes.NewReader(resp.Kvs[0].Value))
		if err == nil {
			return c, nil
		}
		r.cfg.Log.Warn("tuner: stored sensitivity unreadable; measuring again", "model", b.Model.Name, "err", err)
	}
	r.cfg.Log.Info("tuner: measuring sensitivity", "model", b.Model.Name)
	c, err := r.bench.Sensitivity(ctx, b)
	if err != nil {
		return nil, err
	}
	buf, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("tuner: encode sensitivity: %w", err)
	}
	if _, err := f.Commit(ctx, r.etcd, nil, clientv3.OpPut(key, string(buf))); err != nil {
		return nil, fmt.Errorf("tuner: store sensitivity of %s: %w", b.Model.Name, err)
	}
	return c, nil
}

// LoadState reads a class's tuning state and its mod revision; nil and 0 when there
// is none.
func LoadState(ctx context.Context, kv clientv3.KV, class string) (*tuning.State, int64, error) {
	resp, err := kv.Get(ctx, profiles.TuningKey(class))
	if err != nil {
		return nil, 0, fmt.Errorf("tuner: read state of %s: %w", class, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	var st tuning.State
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return nil, 0, fmt.Errorf("tuner: decode state of %s: %w", class, err)
	}
	return &st, resp.Kvs[0].ModRevision, nil
}

// saveState writes st if the stored state still has revision rev (0: absent), under
// the leader fence, and returns the new revision.
func (r *Reconciler) saveState(ctx context.Context, f profiles.Fence, st *tuning.State, rev int64) (int64, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("tuner: encode state of %s: %w", st.Class, err)
	}
	key := profiles.TuningKey(st.Class)
	resp, err := f.Commit(ctx, r.etcd, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpPut(key, string(b)))
	if err != nil {
		return 0, fmt.Errorf("tuner: save state of %s: %w", st.Class, err)
	}
	return resp.Header.Revision, nil
}

// ErrRunning is returned by Retune while the class's tuning has not reached a verdict.
var ErrRunning = errors.New("tuning is still running")

// Feedback is what the fleet learned about a variant after tuning accepted it: the
// devices where it broke the SLO join the next generation's probe cohort, and its
// fleet measurement counts as a trial, so the next search starts below it.
type Feedback struct {
	Devices []string
	Trial   *tuning.Record
}

// Retune starts a new tuning generation of class with reason, folding in fb when
// given. It is a fenced write; it returns an error when tuning is still running.
func Retune(ctx context.Context, kv clientv3.KV, f profiles.Fence, class, reason string, fb *Feedback) error {
	st, rev, err := LoadState(ctx, kv, class)
	if err != nil {
		return err
	}
	if st == nil {
		return fmt.Errorf("tuner: retune %s: %w", class, profiles.ErrNotFound)
	}
	if st.Phase != tuning.PhaseDone {
		return fmt.Errorf("tuner: retune %s: %w (%s)", class, ErrRunning, st.Phase)
	}
	now := time.Now().UTC()
	next := &tuning.State{Class: class, Model: st.Model, Generation: st.Generation + 1, RetuneReason: reason,
		StartedAt: now, UpdatedAt: now, ProbeCohort: append([]string(nil), st.ProbeCohort...)}
	if fb != nil {
		for _, d := range fb.Devices {
			if !slices.Contains(next.ProbeCohort, d) {
				next.ProbeCohort = append(next.ProbeCohort, d)
			}
		}
		sort.Strings(next.ProbeCohort)
		if fb.Trial != nil {
			next.Trials = append(next.Trials, *fb.Trial)
		}
	}
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("tuner: retune %s: %w", class, err)
	}
	key := profiles.TuningKey(class)
	if _, err = f.Commit(ctx, kv, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, clientv3.OpPut(key, string(b))); err != nil {
		return fmt.Errorf("tuner: retune %s: %w", class, err)
	}
	return nil
}

// Limits converts a class SLO into the limits tuning judges variants against.
func Limits(s profiles.SLO) tuning.Limits {
	return tuning.Limits{P95: time.Duration(s.P95Latency), MaxAccuracyDrop: s.MaxAccuracyDrop,
		MaxModelBytes: int64(s.MaxModelBytes), MaxPeakMemory: int64(s.MaxPeakMemory)}
}

func commandID(class, variant, device string, attempt int) string {
	return fmt.Sprintf("tune-%s-%s-%s-a%d", class, variant, device, attempt)
}

// probeSeed derives a variant's probe seed from its class and id, so any leader
// computes the same one.
func probeSeed(class, variant string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, class+"/"+variant)
	return h.Sum64()
}
