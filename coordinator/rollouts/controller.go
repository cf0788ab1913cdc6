// Package rollouts is the coordinator's rollout loop: it starts a staged canary
// rollout of each variant that tuning accepts, drives it through package rollout's
// state machine (installs, gates on fleet reports, rollbacks), feeds failed gates back
// into tuning, keeps every device of a class on the class's current variant, and
// starts a retune when a class drifts past its SLO in steady state.
package rollouts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/reconcile"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/rollout"
)

// Fleet is what the rollout loop needs of the coordinator.
type Fleet interface {
	LeaderFence() (profiles.Fence, bool)
	SendCommand(ctx context.Context, class, device string, cmd *fpv1.Command) (*fpv1.Command, error)
	Devices(ctx context.Context) ([]coordinator.DeviceStatus, error)
}

// Config tunes the loop. Zero fields take the defaults.
type Config struct {
	// Plan is the rollout plan of every rollout the loop starts.
	Plan rollout.Plan
	// WarmupRuns and TimedRuns are sent with install commands.
	WarmupRuns, TimedRuns int
	// SyncEvery is how often a device not on its class's current variant is sent it
	// again.
	SyncEvery time.Duration
	// DriftWindow and DriftReports: a class whose devices' periodic reports all broke
	// the p95 SLO for DriftWindow, at least DriftReports of them, is retuned.
	DriftWindow  time.Duration
	DriftReports int
	Poll         time.Duration
	Log          *slog.Logger
}

// Defaults of Config.
const (
	DefaultSyncEvery    = 30 * time.Second
	DefaultDriftWindow  = 2 * time.Minute
	DefaultDriftReports = 3
	DefaultPoll         = 2 * time.Second
)

func (c Config) withDefaults() Config {
	c.Plan = c.Plan.WithDefaults()
	if c.WarmupRuns <= 0 {
		c.WarmupRuns = tuner.DefaultWarmupRuns
	}
	if c.TimedRuns <= 0 {
		c.TimedRuns = tuner.DefaultTimedRuns
	}
	if c.SyncEvery <= 0 {
		c.SyncEvery = DefaultSyncEvery
	}
	if c.DriftWindow <= 0 {
		c.DriftWindow = DefaultDriftWindow
	}
	if c.DriftReports <= 0 {
		c.DriftReports = DefaultDriftReports
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Current is a class's current variant, stored under current/<class>: what every
// device of the class should run outside a rollout.
type Current struct {
	Variant string    `json:"variant"`
	Rollout string    `json:"rollout,omitempty"`
	Since   time.Time `json:"since"`
}

// CurrentKey is where a class's current variant is stored.
func CurrentKey(class string) string { return profiles.Prefix + "current/" + class }

// Controller runs rollouts for every class.
type Controller struct {
	etcd  *clientv3.Client
	store *profiles.Store
	ro    *rollout.Store
	fleet Fleet
	cfg   Config

	mu     sync.Mutex
	synced map[string]time.Time // device/variant -> last install sent
}

// New returns a controller.
func New(etcd *clientv3.Client, fleet Fleet, cfg Config) *Controller {
	return &Controller{etcd: etcd, store: profiles.NewStore(etcd), ro: rollout.NewStore(etcd), fleet: fleet,
		cfg: cfg.withDefaults(), synced: map[string]time.Time{}}
}

// Reconcile takes one step for class: it drives the class's active rollout, or starts
// one for a variant tuning accepted, or keeps devices on the current variant and
// watches for drift. It re-reads everything each call (see reconcile.Reconciler).
func (c *Controller) Reconcile(ctx context.Context, class string) (reconcile.Result, error) {
	f, ok := c.fleet.LeaderFence()
	if !ok {
		return reconcile.Result{RequeueAfter: c.cfg.Poll}, nil
	}
	cls, err := c.store.Classes.Get(ctx, class)
	if errors.Is(err, profiles.ErrNotFound) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("rollouts: %s: %w", class, err)
	}
	active, ok, err := c.ro.Active(ctx, class)
	if err != nil {
		return reconcile.Result{}, err
	}
	if ok {
		r, err := c.ro.Step(ctx, f, class, active.Rollout.ID,
			func(ctx context.Context, r rollout.Rollout) (rollout.Observations, error) {
				return c.observe(ctx, cls, r)
			},
			func(ctx context.Context, r rollout.Rollout, a rollout.Action) error { return c.execute(ctx, f, r, a) },
			nil)
		if err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{RequeueAfter: r.RequeueAfter(time.Now())}, nil
	}
	st, _, err := tuner.LoadState(ctx, c.etcd, class)
	if err != nil {
		return reconcile.Result{}, err
	}
	cur, err := c.current(ctx, class)
	if err != nil {
		return reconcile.Result{}, err
	}
	if cur == nil && st != nil && st.Base != nil {
		// Until a variant is rolled out, the class runs its base model.
		cur = &Current{Variant: st.Base.VariantID, Since: time.Now().UTC()}
		if err := c.setCurrent(ctx, f, class, *cur); err != nil {
			return reconcile.Result{}, err
		}
	}
	if st != nil && st.Phase == tuning.PhaseDone && st.Verdict == tuning.Met && cur != nil && st.Accepted != "" && st.Accepted != cur.Variant {
		started, err := c.start(ctx, f, class, st.Accepted, cur.Variant)
		if err != nil {
			return reconcile.Result{}, err
		}
		if started {
			return reconcile.Result{RequeueAfter: time.Millisecond}, nil
		}
	}
	if cur == nil {
		return reconcile.Result{RequeueAfter: c.cfg.Poll}, nil
	}
	if err := c.sync(ctx, class, cur.Variant); err != nil {
		return reconcile.Result{}, err
	}
	if st != nil && st.Phase == tuning.PhaseDone && st.Verdict == tuning.Met {
		if reason, fb, err := c.drift(ctx, cls, cur.Variant); err != nil {
			return reconcile.Result{}, err
		} else if reason != "" {
			c.cfg.Log.Warn("rollouts: drift; retuning", "class", class, "reason", reason)
			if err := tuner.Retune(ctx, c.etcd, f, class, reason, fb); err != nil {
				return reconcile.Result{}, err
			}
		}
	}
	return reconcile.Result{RequeueAfter: c.cfg.Poll}, nil
}

// start creates the rollout of variant unless one was made for it before (a
// rolled-back variant is not retried; tuning makes a new one). It reports whether it
// created one.
func (c *Controller) start(ctx context.Context, f profiles.Fence, class, variant, previous string) (bool, error) {
	id := "ro-" + variant
	if _, _, err := c.ro.Get(ctx, class, id); err == nil {
		return false, nil
	} else if !errors.Is(err, profiles.ErrNotFound) {
		return false, err
	}
	r, err := rollout.New(id, class, variant, previous, c.cfg.Plan, time.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("rollouts: %s: %w", class, err)
	}
	if _, err := c.ro.Create(ctx, f, r); err != nil {
		if errors.Is(err, profiles.ErrConflict) {
			return false, nil
		}
		return false, err
	}
	c.cfg.Log.Info("rollouts: started", "class", class, "rollout", id, "variant", variant, "previous", previous)
	return true, nil
}

// observe gathers the class's present devices and the reports of r's variant.
func (c *Controller) observe(ctx context.Context, cls profiles.DeviceClass, r rollout.Rollout) (rollout.Observations, error) {
	devs, err := c.presentDevices(ctx, cls.Name)
	if err != nil {
		return rollout.Observations{}, err
	}
	obs := rollout.Observations{SLO: cls.SLO, Devices: devs}
	want, err := c.expectedChecksum(ctx, cls.Name, r.Variant)
	if err != nil {
		return obs, err
	}
	for _, dev := range r.Installed() {
		reps, err := c.reports(ctx, cls.Name, dev, 32)
		if err != nil {
			return obs, err
		}
		for _, rep := range reps {
			// The install's own benchmark, and measurements the gate asked for again
			// (ActionRemeasure: a benchmark with this rollout's id).
			if rep.GetRolloutId() != r.ID || (rep.GetKind() != "install" && rep.GetKind() != "benchmark") {
				continue
			}
			received := r.StageStartedAt
			if ts := rep.GetMeasuredAt(); ts != nil {
				received = ts.AsTime()
			}
			obs.Reports = append(obs.Reports, rollout.Report{
				DeviceID: dev, Variant: rep.GetVariantId(), Received: received,
				OK: rep.GetOk(), Error: rep.GetError(), P95: time.Duration(rep.GetP95Ns()),
				ParityOK:        want == "" || rep.GetOutputChecksum() == want,
				InferenceErrors: int(rep.GetInferenceErrors()), PeakMemory: profiles.ByteSize(rep.GetPeakRssBytes()),
			})
		}
	}
	return obs, nil
}

// sendEach sends every device of action a the command newCmd builds, with the id
// <action id>-<device>.
func (c *Controller) sendEach(ctx context.Context, r rollout.Rollout, a rollout.Action, newCmd func() *fpv1.Command) error {
	for _, dev := range a.Devices {
		cmd := newCmd()
		cmd.Id = a.ID + "-" + dev
		if _, err := c.fleet.SendCommand(ctx, r.Class, dev, cmd); err != nil {
			return err
		}
	}
	return nil
}

// execute carries out one action of r; command ids derive from the action id and
// device, so a repeat after a failover is de-duplicated.
func (c *Controller) execute(ctx context.Context, f profiles.Fence, r rollout.Rollout, a rollout.Action) error {
	switch a.Kind {
	case rollout.ActionInstall:
		v, err := c.variant(ctx, r.Class, a.Variant)
		if err != nil {
			return err
		}
		return c.sendEach(ctx, r, a, func() *fpv1.Command {
			return &fpv1.Command{Kind: &fpv1.Command_Install{Install: &fpv1.InstallCommand{
				Manifest: v.Signed(), RolloutId: r.ID, Stage: int32(a.Stage),
				WarmupRuns: int32(c.cfg.WarmupRuns), TimedRuns: int32(c.cfg.TimedRuns)}}}
		})
	case rollout.ActionRemeasure:
		v, err := c.variant(ctx, r.Class, a.Variant)
		if err != nil {
			return err
		}
		return c.sendEach(ctx, r, a, func() *fpv1.Command {
			return &fpv1.Command{Kind: &fpv1.Command_Benchmark{Benchmark: &fpv1.BenchmarkCommand{
				Manifest: v.Signed(), Purpose: "gate", RolloutId: r.ID, Stage: int32(a.Stage),
				WarmupRuns: int32(c.cfg.WarmupRuns), TimedRuns: int32(c.cfg.TimedRuns), BatchSize: 1}}}
		})
	case rollout.ActionRollback:
		return c.sendEach(ctx, r, a, func() *fpv1.Command {
			return &fpv1.Command{Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{
				ToVariant: r.Previous, Reason: a.Reason, RolloutId: r.ID, Stage: int32(a.Stage)}}}
		})
	case rollout.ActionFeedback:
		fb := &tuner.Feedback{Devices: a.Devices}
		if st, _, err := tuner.LoadState(ctx, c.etcd, r.Class); err == nil && st != nil {
			for _, t := range st.Trials {
				if t.VariantID == r.Variant {
					rec := t
					if n := len(r.Gates); n > 0 && r.Gates[n-1].WorstP95 > 0 {
						rec.P95 = max(rec.P95, r.Gates[n-1].WorstP95.D())
					}
					fb.Trial = &rec
				}
			}
		}
		err := tuner.Retune(ctx, c.etcd, f, r.Class, fmt.Sprintf("rollout %s stage %d gate failed: %s", r.ID, a.Stage, a.Reason), fb)
		if err != nil && !isRunning(err) {
			return err
		}
	case rollout.ActionSucceeded:
		return c.setCurrent(ctx, f, r.Class, Current{Variant: a.Variant, Rollout: r.ID, Since: time.Now().UTC()})
	default:
		return fmt.Errorf("rollouts: unknown action kind %q", a.Kind)
	}
	return nil
}

// isRunning reports whether a retune was refused because tuning already runs (a
// repeated feedback action after a failover).
func isRunning(err error) bool { return errors.Is(err, tuner.ErrRunning) }

// sync sends the current variant to present devices of the class that do not run
// it, at most once per SyncEvery per device.
func (c *Controller) sync(ctx context.Context, class, variant string) error {
	devs, err := c.fleet.Devices(ctx)
	if err != nil {
		return fmt.Errorf("rollouts: devices: %w", err)
	}
	var v *coordinator.Variant
	for _, d := range devs {
		if d.Class != class || d.Presence != coordinator.PresenceLive {
			continue
		}
		running := d.InstalledVariant
		if d.HeartbeatVariant != "" {
			running = d.HeartbeatVariant
		}
		if running == variant {
			continue
		}
		key := d.ID + "/" + variant
		c.mu.Lock()
		last, seen := c.synced[key]
		c.mu.Unlock()
		if seen && time.Since(last) < c.cfg.SyncEvery {
			continue
		}
		if v == nil {
			if v, err = c.variant(ctx, class, variant); err != nil {
				return err
			}
		}
		n := time.Now().Unix() / int64(c.cfg.SyncEvery/time.Second+1)
		cmd := &fpv1.Command{Id: fmt.Sprintf("sync-%s-%s-%d", variant, d.ID, n), Kind: &fpv1.Command_Install{Install: &fpv1.InstallCommand{
			Manifest: v.Signed(), WarmupRuns: int32(c.cfg.WarmupRuns), TimedRuns: int32(c.cfg.TimedRuns)}}}
		if _, err := c.fleet.SendCommand(ctx, class, d.ID, cmd); err != nil {
			return err
		}
		c.mu.Lock()
		c.synced[key] = time.Now()
		c.mu.Unlock()
		c.cfg.Log.Info("rollouts: sent current variant", "class", class, "device", d.ID, "variant", variant, "was", running)
	}
	return nil
}

// drift looks at the class's periodic reports of the current variant: when at least
// DriftReports of them arrived in the last DriftWindow, spanning most of it, and every
// one broke the p95 SLO, it returns the reason and the devices that drifted.
func (c *Controller) drift(ctx context.Context, cls profiles.DeviceClass, variant string) (string, *tuner.Feedback, error) {
	if cls.SLO.P95Latency <= 0 {
		return "", nil, nil
	}
	devs, err := c.presentDevices(ctx, cls.Name)
	if err != nil {
		return "", nil, err
	}
	now := time.Now()
	var n int
	var worst time.Duration
	var oldest time.Time
	var drifted []string
	for _, dev := range devs {
		reps, err := c.reports(ctx, cls.Name, dev, 16)
		if err != nil {
			return "", nil, err
		}
		for _, rep := range reps {
			if rep.GetKind() != "periodic" || rep.GetVariantId() != variant || rep.GetMeasuredAt() == nil {
				continue
			}
			at := rep.GetMeasuredAt().AsTime()
			if now.Sub(at) > c.cfg.DriftWindow {
				continue
			}
			p95 := time.Duration(rep.GetP95Ns())
			if !rep.GetOk() || p95 <= cls.SLO.P95Latency.D() {
				return "", nil, nil // a report within the SLO: no sustained drift
			}
			n++
			worst = max(worst, p95)
			if oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
			if !slices.Contains(drifted, dev) {
				drifted = append(drifted, dev)
			}
		}
	}
	if n < c.cfg.DriftReports || now.Sub(oldest) < c.cfg.DriftWindow/2 {
		return "", nil, nil
	}
	sort.Strings(drifted)
	reason := fmt.Sprintf("drift: %d periodic reports over %v all broke the slo (worst p95 %v > %v) on %v",
		n, now.Sub(oldest).Round(time.Second), worst, cls.SLO.P95Latency, drifted)
	return reason, &tuner.Feedback{Devices: drifted}, nil
}

func (c *Controller) presentDevices(ctx context.Context, class string) ([]string, error) {
	devs, err := c.fleet.Devices(ctx)
	if err != nil {
		return nil, fmt.Errorf("rollouts: devices: %w", err)
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

// reports returns up to limit of the device's newest applied reports.
func (c *Controller) reports(ctx context.Context, class, device string, limit int64) ([]*fpv1.Report, error) {
	reps, err := tuner.ReadReports(ctx, c.etcd, class, device, limit)
	if err != nil {
		return nil, fmt.Errorf("rollouts: %w", err)
	}
	return reps, nil
}

func (c *Controller) variant(ctx context.Context, class, id string) (*coordinator.Variant, error) {
	resp, err := c.etcd.Get(ctx, profiles.VariantKey(class, id))
	if err != nil {
		return nil, fmt.Errorf("rollouts: variant %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("rollouts: variant %s of %s: %w", id, class, profiles.ErrNotFound)
	}
	var v coordinator.Variant
	if err := json.Unmarshal(resp.Kvs[0].Value, &v); err != nil {
		return nil, fmt.Errorf("rollouts: decode variant %s: %w", id, err)
	}
	return &v, nil
}

func (c *Controller) expectedChecksum(ctx context.Context, class, id string) (string, error) {
	v, err := c.variant(ctx, class, id)
	if err != nil {
		return "", err
	}
	var m fpv1.VariantManifest
	if err := proto.Unmarshal(v.Manifest, &m); err != nil {
		return "", fmt.Errorf("rollouts: manifest of %s: %w", id, err)
	}
	return m.GetExpectedChecksum(), nil
}

func (c *Controller) current(ctx context.Context, class string) (*Current, error) {
	resp, err := c.etcd.Get(ctx, CurrentKey(class))
	if err != nil {
		return nil, fmt.Errorf("rollouts: current variant of %s: %w", class, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	var cur Current
	if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
		return nil, fmt.Errorf("rollouts: decode current variant of %s: %w", class, err)
	}
	return &cur, nil
}

func (c *Controller) setCurrent(ctx context.Context, f profiles.Fence, class string, cur Current) error {
	b, err := json.Marshal(cur)
	if err != nil {
		return err
	}
	if _, err := f.Commit(ctx, c.etcd, nil, clientv3.OpPut(CurrentKey(class), string(b))); err != nil {
		return fmt.Errorf("rollouts: set current variant of %s: %w", class, err)
	}
	return nil
}

// Run drives every class's rollouts until ctx ends (see reconcile.RunClasses).
func (c *Controller) Run(ctx context.Context) error {
	return reconcile.RunClasses(ctx, c.etcd, c, c.cfg.Log)
}
