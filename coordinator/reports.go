package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// reportKinds are the Report.kind values agents send.
var reportKinds = map[string]bool{
	"benchmark": true, "install": true, "rollback": true, "refused": true, "periodic": true,
}

// reportOutcome is what applying one report did.
type reportOutcome int

const (
	reportApplied reportOutcome = iota
	reportDuplicate
)

// ErrNotLeader means a leader write was refused because this coordinator's election
// key is gone or was re-created, or it does not lead at all: another coordinator
// leads. It is profiles.ErrNotLeader, so errors.Is holds for either.
var ErrNotLeader = profiles.ErrNotLeader

// ingestReports pulls reports from the durable consumer and applies each to etcd in
// a fenced transaction before acking it, until ctx ends or leadership is lost.
func (c *Coordinator) ingestReports(ctx context.Context, f profiles.Fence, cons jetstream.Consumer) error {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := cons.Fetch(c.cfg.ReportBatch, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("report fetch", "err", err)
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		for msg := range batch.Messages() {
			if err := c.handleReport(ctx, f, msg); err != nil {
				cancel()
				return err
			}
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			c.log.Warn("report batch", "err", err)
		}
		cancel()
	}
	return ctx.Err()
}

// handleReport decodes, checks and applies one report, then acks, terms or naks it.
// It returns ErrNotLeader when the fence refused the write and ctx's error when ctx
// ended; the message is then left unacked or nakked so the next leader gets it.
func (c *Coordinator) handleReport(ctx context.Context, f profiles.Fence, msg jetstream.Msg) error {
	r, err := c.decodeReport(msg.Subject(), msg.Data())
	if err != nil {
		c.metrics.reports.WithLabelValues("rejected").Inc()
		c.log.Warn("report rejected", "subject", truncate(msg.Subject(), 128), "reason", err)
		if terr := msg.TermWithReason(truncate(err.Error(), 200)); terr != nil {
			c.log.Warn("reporf profiles.Fence", "err", terr)
		}
		return nil
	}
	if r.GetSeq() == 0 {
		// No agent sequence: the stream sequence identifies the message across
		// redeliveries, which is what de-duplication after a failover needs.
		md, err := msg.Metadata()
		if err != nil {
			c.metrics.reports.WithLabelValues("error").Inc()
			return nil
		}
		r.Seq = md.Sequence.Stream
	}
	out, err := c.applyReport(ctx, f, r)
	switch {
	case errors.Is(err, ErrNotLeader):
		return err
	case errors.Is(err, errRejected):
		c.metrics.reports.WithLabelValues("rejected").Inc()
		c.log.Warn("report rejected", "device", r.GetDeviceId(), "seq", r.GetSeq(), "reason", err)
		_ = msg.TermWithReason(truncate(err.Error(), 200))
		return nil
	case err != nil && ctx.Err() != nil:
		// Leadership or the process is ending: hand the report to the next leader.
		_ = msg.Nak()
		return ctx.Err()
	case err != nil:
		c.metrics.reports.WithLabelValues("error").Inc()
		c.log.Warn("report not applied; redelivering", "device", r.GetDeviceId(), "seq", r.GetSeq(), "err", err)
		_ = msg.NakWithDelay(time.Second)
		return nil
	}
	if err := msg.Ack(); err != nil {
		// Not fatal: the report is applied, a redelivery will be seen as a duplicate.
		c.log.Warn("report ack", "err", err)
	}
	if out == reportDuplicate {
		c.metrics.reports.WithLabelValues("duplicate").Inc()
		return nil
	}
	c.metrics.reports.WithLabelValues("applied").Inc()
	if c.opts.onReport != nil {
		c.opts.onReport(r)
	}
	return nil
}

// decodeReport checks the size and subject of a report message and decodes it; every
// failure is an errRejected error naming what is wrong.
func (c *Coordinator) decodeReport(subject string, data []byte) (*fpv1.Report, error) {
	if err := checkSize("report", len(data), c.cfg.MaxMessageBytes); err != nil {
		return nil, err
	}
	toks, err := subjectTokens(subject, []string{"fleet", "v1", "report"}, 5)
	if err != nil {
		return nil, err
	}
	r := &fpv1.Report{}
	if err := proto.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%w: report: decode: %v", errRejected, err)
	}
	if err := validateReport(r, toks[0], toks[1]); err != nil {
		return nil, err
	}
	return r, nil
}

// validateReport checks that r belongs on the subject of class and device and that
// its numbers are possible.
func validateReport(r *fpv1.Report, class, device string) error {
	if err := checkName("device_id", r.GetDeviceId()); err != nil {
		return err
	}
	if err := checkName("class", r.GetClass()); err != nil {
		return err
	}
	if r.GetDeviceId() != device || r.GetClass() != class {
		return fmt.Errorf("%w: report of %s/%s on the subject of %s/%s", errRejected,
			r.GetClass(), r.GetDeviceId(), truncate(class, 64), truncate(device, 64))
	}
	if !reportKinds[r.GetKind()] {
		return fmt.Errorf("%w: kind %q is not one of benchmark, install, rollback, refused, periodic", errRejected, truncate(r.GetKind(), 64))
	}
	for name, v := range map[string]int64{"p50_ns": r.GetP50Ns(), "p95_ns": r.GetP95Ns(), "p99_ns": r.GetP99Ns(), "mean_ns": r.GetMeanNs()} {
		if v < 0 {
			return fmt.Errorf("%w: %s is negative (%d)", errRejected, name, v)
		}
	}
	if r.GetRuns() < 0 || r.GetInferenceErrors() < 0 || r.GetThreads() < 0 || r.GetStage() < 0 {
		return fmt.Errorf("%w: runs, inference_errors, threads and stage must not be negative", errRejected)
	}
	if r.GetP50Ns() > r.GetP95Ns() && r.GetP95Ns() > 0 || r.GetP95Ns() > r.GetP99Ns() && r.GetP99Ns() > 0 {
		return fmt.Errorf("%w: percentiles out of order: p50 %d, p95 %d, p99 %d ns", errRejected, r.GetP50Ns(), r.GetP95Ns(), r.GetP99Ns())
	}
	if r.GetSeq() == math.MaxUint64 {
		return fmt.Errorf("%w: seq is out of range", errRejected)
	}
	for i, l := range r.GetLayers() {
		if l.GetMeanNs() < 0 {
			return fmt.Errorf("%w: layers[%d].mean_ns is negative", errRejected, i)
		}
	}
	return nil
}

// applyReport stores r in one fenced transaction: the report under its (device, seq)
// key, the device's last report and last applied seq. The transaction only applies
// while this coordinator leads, the device is registered and the report key is new,
// so a report redelivered after a failover is recognised and not applied twice.
func (c *Coordinator) applyReport(ctx context.Context, f profiles.Fence, r *fpv1.Report) (reportOutcome, error) {
	b, err := proto.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("report: encode: %w", err)
	}
	rk := reportKey(r.GetClass(), r.GetDeviceId(), r.GetSeq())
	dk := profiles.DevicePrefix + r.GetDeviceId()
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Txn(ctx).
		If(f.Cmp(),
			clientv3.Compare(clientv3.CreateRevision(dk), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(rk), "=", 0)).
		Then(clientv3.OpPut(rk, string(b)),
			clientv3.OpPut(lastReportPrefix+r.GetDeviceId(), string(b)),
			clientv3.OpPut(reportSeqPrefix+r.GetDeviceId(), seqValue(r.GetSeq()))).
		Else(clientv3.OpGet(f.Key, clientv3.WithKeysOnly()),
			clientv3.OpGet(dk, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("report: apply in etcd: %w", err)
	}
	if resp.Succeeded {
		return reportApplied, nil
	}
	lead := resp.Responses[0].GetResponseRange().GetKvs()
	if len(lead) == 0 || lead[0].CreateRevision != f.Rev {
		return 0, ErrNotLeader
	}
	if len(resp.Responses[1].GetResponseRange().GetKvs()) == 0 {
		return 0, fmt.Errorf("%w: device %s is not registered", errRejected, r.GetDeviceId())
	}
	return reportDuplicate, nil
}

// callCtx bounds one etcd or NATS call by DefaultRequestTimeout when ctx has no
// deadline.
func (c *Coordinator) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultRequestTimeout)
}
