package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Report kinds.
const (
	KindBenchmark = "benchmark"
	KindInstall   = "install"
	KindRollback  = "rollback"
	KindRefused   = "refused"
	KindPeriodic  = "periodic"
)

// handleMessage decodes and carries out one command, publishes its report and then
// acks. A malformed command is refused, reported and terminated; a command that
// failed for a passing reason (server unavailable, agent stopping) is nak'ed to be
// redelivered, until its last delivery, which is reported as failed.
func (a *Agent) handleMessage(ctx context.Context, msg jetstream.Msg) {
	class := a.Class()
	cmd, err := decodeCommand(msg.Data(), a.cfg.maxCommandBytes, a.id, class)
	if err != nil {
		a.log.Warn("command refused", "subject", msg.Subject(), "bytes", len(msg.Data()), "err", err)
		a.met.refused.WithLabelValues(a.id, "malformed").Inc()
		a.met.commands.WithLabelValues(a.id, "unknown", "refused").Inc()
		rep := a.newReport(cmd, KindRefused)
		rep.Error = err.Error()
		if perr := a.publishReport(ctx, rep); perr != nil {
			a.log.Warn("refusal report not published", "err", perr)
		}
		_ = msg.TermWithReason("malformed command")
		return
	}
	if id := cmd.GetId(); a.done.Has(id) {
		// Reported already; its ack was lost. Ack it again, do not do it again.
		a.log.Info("command delivered again after its report; acked again", "command", id)
		a.ackConfirmed(ctx, msg, id)
		return
	}
	stop := keepInProgress(msg, a.cfg.ackWait/3)
	a.work.Lock()
	rep, err := a.execute(ctx, cmd)
	a.work.Unlock()
	stop()
	kind := commandKind(cmd)
	if err != nil {
		if ctx.Err() != nil {
			_ = msg.Nak()
			return
		}
		md, merr := msg.Metadata()
		if merr == nil && md.NumDelivered < commandMaxDeliver {
			d := backoff(int(md.NumDelivered), a.cfg.retryMin, a.cfg.retryMax)
			a.log.Warn("command failed; will be redelivered", "command", cmd.GetId(), "kind", kind, "in", d, "err", err)
			_ = msg.NakWithDelay(d)
			return
		}
		rep = a.newReport(cmd, kind)
		rep.Error = fmt.Sprintf("gave up after %d deliveries: %v", commandMaxDeliver, err)
	}
	outcome := "ok"
	switch {
	case rep.GetKind() == KindRefused:
		outcome = "refused"
	case rep.GetError() != "":
		outcome = "failed"
	}
	a.met.commands.WithLabelValues(a.id, kind, outcome).Inc()
	// The command is done: publish its report even while the agent stops. With the
	// stop's context, the publish itself went out but waiting for its ack was
	// cancelled, so the command was redelivered and done again after a restart.
	pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer pcancel()
	if err := a.publishReport(pctx, rep); err != nil {
		a.log.Warn("report not published; command will be redelivered", "command", cmd.GetId(), "err", err)
		_ = msg.NakWithDelay(a.cfg.retryMin)
		return
	}
	if err := a.done.Add(cmd.GetId()); err != nil {
		a.log.Warn("command not recorded as done; a redelivery would run it again", "command", cmd.GetId(), "err", err)
	}
	a.ackConfirmed(ctx, msg, cmd.GetId())
}

// ackConfirmed acks msg and waits for the server to confirm it, even while the agent
// stops: a plain ack lost at shutdown redelivers a command whose report is out.
func (a *Agent) ackConfirmed(ctx context.Context, msg jetstream.Msg, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := msg.DoubleAck(actx); err != nil {
		a.log.Warn("command ack", "command", id, "err", err)
	}
}

// keepInProgress tells the server every interval that msg is still being worked on,
// until the returned stop is called.
func keepInProgress(msg jetstream.Msg, interval time.Duration) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(max(interval, time.Second))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func commandKind(cmd *fpv1.Command) string {
	switch cmd.GetKind().(type) {
	case *fpv1.Command_Benchmark:
		return KindBenchmark
	case *fpv1.Command_Install:
		return KindInstall
	case *fpv1.Command_Rollback:
		return KindRollback
	}
	return "unknown"
}

// execute carries out a decoded command and returns its report. Refusals and
// permanent failures are reports with ok false; the error is for passing failures
// worth a redelivery.
func (a *Agent) execute(ctx context.Context, cmd *fpv1.Command) (*fpv1.Report, error) {
	switch k := cmd.GetKind().(type) {
	case *fpv1.Command_Benchmark:
		return a.doBenchmark(ctx, cmd, k.Benchmark)
	case *fpv1.Command_Install:
		return a.doInstall(ctx, cmd, k.Install)
	case *fpv1.Command_Rollback:
		return a.doRollback(cmd, k.Rollback), nil
	}
	rep := a.newReport(cmd, KindRefused)
	rep.Error = "unknown command kind"
	return rep, nil
}

// verify checks a command's manifest against the coordinator key from registration.
func (a *Agent) verify(cmd *fpv1.Command, sm *fpv1.SignedManifest) (*fpv1.VariantManifest, error) {
	a.mu.Lock()
	key := a.coordKey
	a.mu.Unlock()
	m, err := fpv1.VerifyManifest(key, sm)
	switch {
	case errors.Is(err, fpv1.ErrBadSignature):
		return nil, refuse("signature", fmt.Errorf("artifact refused: %w", err))
	case err != nil:
		return nil, refuse("malformed", fmt.Errorf("artifact refused: %w", err))
	case m.GetClass() != "" && m.GetClass() != cmd.GetClass():
		return nil, refuse("class", fmt.Errorf("artifact refused: manifest is for class %q, command for %q", m.GetClass(), cmd.GetClass()))
	}
	return m, nil
}

// refusedReport turns a refusal into its report, or returns the error when it is
// not one (a passing failure).
func (a *Agent) refusedReport(cmd *fpv1.Command, sm *fpv1.SignedManifest, err error) (*fpv1.Report, error) {
	var r *refusal
	if !errors.As(err, &r) {
		return nil, err
	}
	a.met.refused.WithLabelValues(a.id, r.reason).Inc()
	a.log.Warn("artifact refused", "command", cmd.GetId(), "reason", r.reason, "err", err)
	rep := a.newReport(cmd, KindRefused)
	rep.Error = err.Error()
	// The variant id of an unverified manifest is only a hint for operators.
	var m fpv1.VariantManifest
	if proto.Unmarshal(sm.GetManifest(), &m) == nil && namePattern.MatchString(m.GetVariantId()) {
		rep.VariantId = m.GetVariantId()
	}
	return rep, nil
}

func (a *Agent) doBenchmark(ctx context.Context, cmd *fpv1.Command, b *fpv1.BenchmarkCommand) (*fpv1.Report, error) {
	m, err := a.verify(cmd, b.GetManifest())
	if err != nil {
		return a.refusedReport(cmd, b.GetManifest(), err)
	}
	art, err := a.fetchArtifact(ctx, m)
	if err != nil {
		return a.refusedReport(cmd, b.GetManifest(), err)
	}
	defer art.release()
	rep := a.newReport(cmd, KindBenchmark)
	rep.VariantId = m.GetVariantId()
	rep.RolloutId, rep.Stage = b.GetRolloutId(), b.GetStage()
	res, err := a.benchmark(ctx, art.path, m.GetInputShape(), m.GetProbeSeed(),
		orDefault(b.GetWarmupRuns(), a.cfg.warmupRuns), orDefault(b.GetTimedRuns(), a.cfg.timedRuns),
		orDefault(b.GetBatchSize(), DefaultBatchSize), purposeOr(b.GetPurpose(), "probe"))
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		rep.Error = err.Error()
		return rep, nil
	}
	fillResult(rep, res)
	a.checkParity(m, res)
	return rep, nil
}

func (a *Agent) doInstall(ctx context.Context, cmd *fpv1.Command, in *fpv1.InstallCommand) (*fpv1.Report, error) {
	m, err := a.verify(cmd, in.GetManifest())
	if err != nil {
		return a.refusedReport(cmd, in.GetManifest(), err)
	}
	art, err := a.fetchArtifact(ctx, m)
	if err != nil {
		return a.refusedReport(cmd, in.GetManifest(), err)
	}
	defer art.release()
	rep := a.newReport(cmd, KindInstall)
	rep.VariantId = m.GetVariantId()
	rep.RolloutId, rep.Stage = in.GetRolloutId(), in.GetStage()
	// Benchmark before installing: a variant that does not run here is never live.
	res, err := a.benchmark(ctx, art.path, m.GetInputShape(), m.GetProbeSeed(),
		orDefault(in.GetWarmupRuns(), a.cfg.warmupRuns), orDefault(in.GetTimedRuns(), a.cfg.timedRuns),
		DefaultBatchSize, "install")
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		rep.Error = "not installed: " + err.Error()
		rep.InstalledVariant = a.InstalledVariant()
		return rep, nil
	}
	fillResult(rep, res)
	a.checkParity(m, res)
	v := &installedVariant{
		VariantID: m.GetVariantId(), Class: m.GetClass(), Model: m.GetModel(), SHA256: m.GetSha256(),
		SizeBytes: m.GetSizeBytes(), SampleShape: m.GetInputShape(), ProbeSeed: m.GetProbeSeed(),
		ExpectedChecksum: m.GetExpectedChecksum(), InstalledAt: time.Now().UTC(),
	}
	if err := a.store.Install(v, art.path); err != nil {
		rep.Error = err.Error()
		rep.InstalledVariant = a.InstalledVariant()
		return rep, nil
	}
	art.temp = false // renamed into the store
	rep.InstalledVariant = v.VariantID
	rep.PreviousVariant = a.previousID()
	a.log.Info("variant installed", "variant", v.VariantID, "previous", rep.PreviousVariant, "p95", time.Duration(res.P95))
	return rep, nil
}

func (a *Agent) previousID() string {
	if p := a.store.Previous(); p != nil {
		return p.VariantID
	}
	return ""
}

func (a *Agent) doRollback(cmd *fpv1.Command, r *fpv1.RollbackCommand) *fpv1.Report {
	rep := a.newReport(cmd, KindRollback)
	rep.RolloutId, rep.Stage = r.GetRolloutId(), r.GetStage()
	restored, err := a.store.Rollback(r.GetToVariant())
	if err != nil {
		rep.Error = err.Error()
		rep.InstalledVariant = a.InstalledVariant()
		rep.PreviousVariant = a.previousID()
		a.log.Warn("rollback failed", "command", cmd.GetId(), "err", err)
		return rep
	}
	rep.VariantId = restored.VariantID
	rep.InstalledVariant = restored.VariantID
	rep.PreviousVariant = a.previousID()
	a.log.Info("rolled back", "variant", restored.VariantID, "replaced", rep.PreviousVariant, "reason", r.GetReason())
	return rep
}

// checkParity logs when the probe checksum differs from what the coordinator
// expects; the coordinator's gate decides what that means.
func (a *Agent) checkParity(m *fpv1.VariantManifest, res *benchResult) {
	if want := m.GetExpectedChecksum(); want != "" && want != res.Checksum {
		a.log.Warn("output checksum differs from the coordinator's", "variant", m.GetVariantId(), "got", res.Checksum, "want", want)
	}
}

// newReport starts a report for cmd (which may be nil for a message that did not
// decode); publishReport sets ok.
func (a *Agent) newReport(cmd *fpv1.Command, kind string) *fpv1.Report {
	rep := &fpv1.Report{
		Kind:             kind,
		CommandId:        trunc(cmd.GetId()),
		InstalledVariant: a.InstalledVariant(),
		PreviousVariant:  a.previousID(),
		Threads:          a.profile.GetThreads(),
	}
	return rep
}

func fillResult(rep *fpv1.Report, res *benchResult) {
	rep.Runs = int32(res.Runs)
	rep.P50Ns, rep.P95Ns, rep.P99Ns, rep.MeanNs = res.P50, res.P95, res.P99, res.Mean
	rep.PeakRssBytes = res.PeakRSS
	rep.OutputChecksum = res.Checksum
	rep.InferenceErrors = int32(res.InferenceErrors)
	rep.Threads = int32(res.Threads)
	rep.MeasuredAt = timestamppb.Now()
	for _, l := range res.Layers {
		rep.Layers = append(rep.Layers, &fpv1.LayerTiming{Node: l.Node, Op: l.Op, MeanNs: l.Mean})
	}
}

func orDefault(v int32, def int) int {
	if v <= 0 {
		return def
	}
	return int(v)
}

func purposeOr(p, def string) string {
	if p == "" {
		return def
	}
	return p
}
