package view

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
)

// DefaultStaleAfter is how long a device may stay silent before it shows as stale;
// it matches the coordinator's default (three heartbeat intervals of 5 s).
const DefaultStaleAfter = 15 * time.Second

// DefaultReadTimeout bounds one read when the caller's context has no deadline.
const DefaultReadTimeout = 10 * time.Second

// Reader reads views of the fleet from etcd. It never writes.
type Reader struct {
	kv         clientv3.KV
	staleAfter time.Duration
	now        func() time.Time
}

// NewReader returns a reader of kv; a device silent for longer than staleAfter shows
// as stale (DefaultStaleAfter when staleAfter <= 0).
func NewReader(kv clientv3.KV, staleAfter time.Duration) *Reader {
	if staleAfter <= 0 {
		staleAfter = DefaultStaleAfter
	}
	return &Reader{kv: kv, staleAfter: staleAfter, now: time.Now}
}

// snapshot is the keys under several prefixes read in one transaction, so at one
// revision.
type snapshot struct {
	rev  int64
	kvs  map[string][]*mvccpb.KeyValue
	read time.Time
}

func (r *Reader) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultReadTimeout)
}

// read gets every key under each of prefixes (a key without a trailing slash is read
// alone) at one revision.
func (r *Reader) read(ctx context.Context, prefixes ...string) (*snapshot, error) {
	ops := make([]clientv3.Op, len(prefixes))
	for i, p := range prefixes {
		if strings.HasSuffix(p, "/") {
			ops[i] = clientv3.OpGet(p, clientv3.WithPrefix())
		} else {
			ops[i] = clientv3.OpGet(p)
		}
	}
	resp, err := r.kv.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, fmt.Errorf("view: read etcd: %w", err)
	}
	s := &snapshot{rev: resp.Header.GetRevision(), kvs: map[string][]*mvccpb.KeyValue{}, read: r.now()}
	for i, p := range prefixes {
		s.kvs[p] = resp.Responses[i].GetResponseRange().GetKvs()
	}
	return s, nil
}

// Overview reads every class, device and rollout at one revision.
func (r *Reader) Overview(ctx context.Context) (*Overview, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	s, err := r.read(ctx, profiles.ClassPrefix, profiles.DevicePrefix, profiles.PresencePrefix,
		profiles.TuningPrefix, profiles.RolloutPrefix, LastReportPrefix, profiles.ModelPrefix)
	if err != nil {
		return nil, err
	}
	classes, err := decodeAll[profiles.DeviceClass](s.kvs[profiles.ClassPrefix])
	if err != nil {
		return nil, err
	}
	devices, err := r.devices(s, "")
	if err != nil {
		return nil, err
	}
	states, err := tuningStates(s.kvs[profiles.TuningPrefix])
	if err != nil {
		return nil, err
	}
	rollouts, err := decodeRollouts(s.kvs[profiles.RolloutPrefix])
	if err != nil {
		return nil, err
	}
	out := &Overview{Revision: s.rev, GeneratedAt: s.read, Devices: devices, Rollouts: rollouts, Classes: []ClassView{}}
	for _, cl := range profiles.SortForPlacement(classes) {
		out.Classes = append(out.Classes, classView(cl, devices, states[cl.Name]))
	}
	out.Models = []string{}
	for _, kv := range s.kvs[profiles.ModelPrefix] {
		out.Models = append(out.Models, strings.TrimPrefix(string(kv.Key), profiles.ModelPrefix))
	}
	return out, nil
}

// Class returns a class's declaration, or an error wrapping profiles.ErrNotFound.
func (r *Reader) Class(ctx context.Context, name string) (profiles.DeviceClass, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(name); err != nil {
		return profiles.DeviceClass{}, fmt.Errorf("view: class %q: %v: %w", name, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, profiles.ClassKey(name))
	if err != nil {
		return profiles.DeviceClass{}, err
	}
	return classOf(s, name)
}

func classOf(s *snapshot, name string) (profiles.DeviceClass, error) {
	var cl profiles.DeviceClass
	kvs := s.kvs[profiles.ClassKey(name)]
	if len(kvs) == 0 {
		return cl, fmt.Errorf("view: no class %q; `fleetprune get classes` lists them: %w", name, profiles.ErrNotFound)
	}
	if err := json.Unmarshal(kvs[0].Value, &cl); err != nil {
		return cl, fmt.Errorf("view: decode class %s: %w", name, err)
	}
	return cl, nil
}

// Devices returns the devices of class (every device when class is ""), ordered by
// id, or an error wrapping profiles.ErrNotFound when the class does not exist.
func (r *Reader) Devices(ctx context.Context, class string) ([]DeviceView, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	prefixes := []string{profiles.DevicePrefix, profiles.PresencePrefix, LastReportPrefix}
	if class != "" {
		if err := profiles.ValidateName(class); err != nil {
			return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
		}
		prefixes = append(prefixes, profiles.ClassKey(class))
	}
	s, err := r.read(ctx, prefixes...)
	if err != nil {
		return nil, err
	}
	if class != "" {
		if _, err := classOf(s, class); err != nil {
			return nil, err
		}
	}
	return r.devices(s, class)
}

// devices joins device records, presence and last reports of s.
func (r *Reader) devices(s *snapshot, class string) ([]DeviceView, error) {
	pres := map[string]rawPresence{}
	for _, kv := range s.kvs[profiles.PresencePrefix] {
		var p rawPresence
		if json.Unmarshal(kv.Value, &p) != nil {
			continue // another version's record: treat as never seen
		}
		if kv.Lease != 0 && p.LastSeen.IsZero() {
			// A lease-held key is present for as long as it exists.
			p.LastSeen = s.read
		}
		pres[strings.TrimPrefix(string(kv.Key), profiles.PresencePrefix)] = p
	}
	last := map[string]*mvccpb.KeyValue{}
	for _, kv := range s.kvs[LastReportPrefix] {
		last[strings.TrimPrefix(string(kv.Key), LastReportPrefix)] = kv
	}
	out := []DeviceView{}
	for _, kv := range s.kvs[profiles.DevicePrefix] {
		var d profiles.Device
		if err := json.Unmarshal(kv.Value, &d); err != nil {
			return nil, fmt.Errorf("view: decode device at %s: %w", kv.Key, err)
		}
		if class != "" && d.Class != class {
			continue
		}
		v := DeviceView{ID: d.ID, Class: d.Class, Profile: d.Profile, LastSeen: d.LastSeen,
			InstalledVariant: d.InstalledVariant, PreviousVariant: d.PreviousVariant,
			AgentVersion: d.AgentVersion, RegisteredAt: d.RegisteredAt}
		if p, ok := pres[d.ID]; ok {
			if p.LastSeen.After(v.LastSeen) {
				v.LastSeen = p.LastSeen
			}
			if p.InstalledVariant != "" {
				v.InstalledVariant = p.InstalledVariant
			}
		}
		v.Presence = PresenceStale
		if !v.LastSeen.IsZero() && s.read.Sub(v.LastSeen) <= r.staleAfter {
			v.Presence = PresenceLive
		}
		if lr := last[d.ID]; lr != nil {
			v.ReportsApplied = lr.Version
			rep := &fpv1.Report{}
			if proto.Unmarshal(lr.Value, rep) == nil {
				v.LastReport = reportView(rep)
			}
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func reportView(r *fpv1.Report) *ReportView {
	v := &ReportView{Kind: r.GetKind(), VariantID: r.GetVariantId(), OK: r.GetOk(), Error: r.GetError(),
		Runs: r.GetRuns(), P50Ms: ms(time.Duration(r.GetP50Ns())), P95Ms: ms(time.Duration(r.GetP95Ns())),
		P99Ms: ms(time.Duration(r.GetP99Ns())), PeakRSSBytes: r.GetPeakRssBytes(),
		InferenceErrors: r.GetInferenceErrors(), RolloutID: r.GetRolloutId(), Stage: r.GetStage(), Seq: r.GetSeq()}
	if t := r.GetMeasuredAt(); t != nil {
		v.MeasuredAt = t.AsTime()
	}
	return v
}

// classView joins a class with its devices and tuning state.
func classView(cl profiles.DeviceClass, devices []DeviceView, st *tuning.State) ClassView {
	v := ClassView{DeviceClass: cl, SLOP95Ms: ms(cl.SLO.P95Latency.D()), Status: StatusUntuned}
	for _, d := range devices {
		if d.Class != cl.Name {
			continue
		}
		v.Devices++
		if d.Presence == PresenceLive {
			v.LiveDevices++
		} else {
			v.StaleDevices++
		}
	}
	if st == nil {
		return v
	}
	sum := &TuningSummary{Generation: st.Generation, Phase: st.Phase, Message: st.Message,
		Verdict: string(st.Verdict), Reason: st.Reason, Accepted: st.Accepted,
		RetuneReason: st.RetuneReason, Iterations: len(st.Trials), UpdatedAt: st.UpdatedAt}
	if st.Pending != nil {
		sum.Pending = st.Pending.VariantID
	}
	for _, t := range st.Trials {
		if st.Accepted != "" && t.VariantID == st.Accepted {
			sum.AcceptedP95Ms, sum.AcceptedAccuracyDrop = ms(t.P95), t.AccuracyDrop
		}
	}
	v.Tuning = sum
	switch {
	case st.Phase == tuning.PhaseDone && st.Verdict == tuning.Met:
		v.Status = StatusMet
	case st.Phase == tuning.PhaseDone && st.Verdict == tuning.Infeasible:
		v.Status = StatusInfeasible
	case st.Phase == tuning.PhaseWaitingDevices:
		v.Status = StatusWaiting
	default:
		v.Status = StatusTuning
	}
	return v
}

func tuningStates(kvs []*mvccpb.KeyValue) (map[string]*tuning.State, error) {
	out := make(map[string]*tuning.State, len(kvs))
	for _, kv := range kvs {
		st := &tuning.State{}
		if err := json.Unmarshal(kv.Value, st); err != nil {
			return nil, fmt.Errorf("view: decode tuning state at %s: %w", kv.Key, err)
		}
		out[strings.TrimPrefix(string(kv.Key), profiles.TuningPrefix)] = st
	}
	return out, nil
}

func decodeAll[T any](kvs []*mvccpb.KeyValue) ([]T, error) {
	out := make([]T, 0, len(kvs))
	for _, kv := range kvs {
		var v T
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, fmt.Errorf("view: decode %s: %w", kv.Key, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Tuning returns a class's SLO, tuning state (nil before the first run) and Pareto
// points, or an error wrapping profiles.ErrNotFound when the class does not exist.
func (r *Reader) Tuning(ctx context.Context, class string) (*TuningView, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(class); err != nil {
		return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, profiles.ClassKey(class), profiles.TuningKey(class))
	if err != nil {
		return nil, err
	}
	cl, err := classOf(s, class)
	if err != nil {
		return nil, err
	}
	return tuningView(cl, s.kvs[profiles.TuningKey(class)])
}

func tuningView(cl profiles.DeviceClass, kvs []*mvccpb.KeyValue) (*TuningView, error) {
	tv := &TuningView{Class: cl.Name, SLO: cl.SLO, SLOP95Ms: ms(cl.SLO.P95Latency.D()), Points: []ParetoPoint{}}
	if len(kvs) == 0 {
		return tv, nil
	}
	st := &tuning.State{}
	if err := json.Unmarshal(kvs[0].Value, st); err != nil {
		return nil, fmt.Errorf("view: decode tuning state of %s: %w", cl.Name, err)
	}
	tv.State = st
	if st.Base != nil {
		tv.AccuracyFloor = st.Base.Accuracy - cl.SLO.MaxAccuracyDrop
	}
	tv.Points = Pareto(cl.SLO, st)
	return tv, nil
}

// Variants returns the published variants of class joined with their trials, oldest
// first, or an error wrapping profiles.ErrNotFound when the class does not exist.
func (r *Reader) Variants(ctx context.Context, class string) ([]VariantView, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(class); err != nil {
		return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, profiles.ClassKey(class), profiles.TuningKey(class),
		profiles.VariantPrefix+class+"/", profiles.DevicePrefix, profiles.PresencePrefix)
	if err != nil {
		return nil, err
	}
	cl, err := classOf(s, class)
	if err != nil {
		return nil, err
	}
	tv, err := tuningView(cl, s.kvs[profiles.TuningKey(class)])
	if err != nil {
		return nil, err
	}
	devices, err := r.devices(s, class)
	if err != nil {
		return nil, err
	}
	return variants(s.kvs[profiles.VariantPrefix+class+"/"], tv, devices)
}

func variants(kvs []*mvccpb.KeyValue, tv *TuningView, devices []DeviceView) ([]VariantView, error) {
	points := map[string]*ParetoPoint{}
	for i := range tv.Points {
		points[tv.Points[i].VariantID] = &tv.Points[i]
	}
	running := map[string]int{}
	for _, d := range devices {
		running[d.InstalledVariant]++
	}
	out := make([]VariantView, 0, len(kvs))
	for _, kv := range kvs {
		var rv rawVariant
		if err := json.Unmarshal(kv.Value, &rv); err != nil {
			return nil, fmt.Errorf("view: decode variant at %s: %w", kv.Key, err)
		}
		v := VariantView{Class: rv.Class, ID: rv.ID, Model: rv.Model, SHA256: rv.SHA256,
			SizeBytes: rv.SizeBytes, CreatedAt: rv.CreatedAt, Trial: points[rv.ID], Devices: running[rv.ID]}
		v.Accepted = tv.State != nil && tv.State.Accepted != "" && tv.State.Accepted == rv.ID
		out = append(out, v)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// Sensitivity returns the stored sensitivity curves of model, or an error wrapping
// profiles.ErrNotFound when there are none.
func (r *Reader) Sensitivity(ctx context.Context, model string) (*sensitivity.Curves, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(model); err != nil {
		return nil, fmt.Errorf("view: model %q: %v: %w", model, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, SensitivityKey(model))
	if err != nil {
		return nil, err
	}
	return sensitivityOf(s.kvs[SensitivityKey(model)], model)
}

func sensitivityOf(kvs []*mvccpb.KeyValue, model string) (*sensitivity.Curves, error) {
	if len(kvs) == 0 {
		return nil, fmt.Errorf("view: no sensitivity curves of model %q yet (tuning computes them once per base model): %w", model, profiles.ErrNotFound)
	}
	c := &sensitivity.Curves{}
	if err := json.Unmarshal(kvs[0].Value, c); err != nil {
		return nil, fmt.Errorf("view: decode sensitivity curves of %s: %w", model, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("view: sensitivity curves of %s: %w", model, err)
	}
	return c, nil
}

// ClassReport reads everything the report of class shows at one revision, or an
// error wrapping profiles.ErrNotFound when the class does not exist.
func (r *Reader) ClassReport(ctx context.Context, class string) (*ClassReport, error) {
	ctx, cancel := r.ctx(ctx)
	defer cancel()
	if err := profiles.ValidateName(class); err != nil {
		return nil, fmt.Errorf("view: class %q: %v: %w", class, err, profiles.ErrNotFound)
	}
	s, err := r.read(ctx, profiles.ClassKey(class), profiles.TuningKey(class), profiles.VariantPrefix+class+"/",
		profiles.DevicePrefix, profiles.PresencePrefix, LastReportPrefix, profiles.RolloutPrefix+class+"/")
	if err != nil {
		return nil, err
	}
	cl, err := classOf(s, class)
	if err != nil {
		return nil, err
	}
	tv, err := tuningView(cl, s.kvs[profiles.TuningKey(class)])
	if err != nil {
		return nil, err
	}
	devices, err := r.devices(s, class)
	if err != nil {
		return nil, err
	}
	vs, err := variants(s.kvs[profiles.VariantPrefix+class+"/"], tv, devices)
	if err != nil {
		return nil, err
	}
	rollouts, err := decodeRollouts(s.kvs[profiles.RolloutPrefix+class+"/"])
	if err != nil {
		return nil, err
	}
	rep := &ClassReport{Revision: s.rev, GeneratedAt: s.read, Class: classView(cl, devices, tv.State),
		Tuning: *tv, Devices: devices, Variants: vs, Rollouts: rollouts}
	model := cl.BaseModel
	if tv.State != nil && tv.State.Model != "" {
		model = tv.State.Model
	}
	sens, err := r.kv.Get(ctx, SensitivityKey(model), clientv3.WithRev(s.rev))
	if err != nil {
		return nil, fmt.Errorf("view: read sensitivity of %s: %w", model, err)
	}
	c, err := sensitivityOf(sens.Kvs, model)
	switch {
	case errors.Is(err, profiles.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		rep.Sensitivity = c
	}
	return rep, nil
}
