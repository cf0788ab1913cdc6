package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
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

// maxReportsPerTxn bounds the reports applied in one transaction: each takes two
// compares and three puts, within etcd's default limit of 128 operations per list.
const maxReportsPerTxn = 40

// ingestReports pulls reports from the durable consumer and applies them to etcd in
// fenced transactions before acking them, until ctx ends or leadership is lost.
// Reports that are already waiting are applied together, up to maxReportsPerTxn in
// one transaction, so ingestion keeps up with a large fleet; a lone report is applied
// at once.
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
		err = c.drain(ctx, f, batch.Messages())
		cancel()
		if err != nil {
			return err
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			c.log.Warn("report batch", "err", err)
		}
	}
	return ctx.Err()
}

// drain applies the messages of msgs in groups of those already arrived.
func (c *Coordinator) drain(ctx context.Context, f profiles.Fence, msgs <-chan jetstream.Msg) error {
	var pending []jetstream.Msg
	for {
		var (
			m  jetstream.Msg
			ok bool
		)
		if len(pending) == 0 {
			m, ok = <-msgs
		} else {
			select {
			case m, ok = <-msgs:
			default:
				if err := c.applyGroup(ctx, f, pending); err != nil {
					return err
				}
				pending = pending[:0]
				continue
			}
		}
		if !ok {
			if len(pending) > 0 {
				return c.applyGroup(ctx, f, pending)
			}
			return nil
		}
		pending = append(pending, m)
	}
}

// reportMsg is a decoded report with its message.
type reportMsg struct {
	msg jetstream.Msg
	r   *fpv1.Report
}

// applyGroup decodes msgs, terms the malformed ones and applies the rest in
// transactions of distinct devices: the first report of each device in the group,
// then the second, and so on, keeping each device's reports in order. A transaction
// that fails (a duplicate, an unregistered device, a lost fence) is retried report by
// report, which sorts out each report's fate.
func (c *Coordinator) applyGroup(ctx context.Context, f profiles.Fence, msgs []jetstream.Msg) error {
	var rounds [][]reportMsg
	nth := map[string]int{}
	for _, m := range msgs {
		r, ok := c.decodeMsg(m)
		if !ok {
			continue
		}
		i := nth[r.GetDeviceId()]
		nth[r.GetDeviceId()] = i + 1
		if i == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[i] = append(rounds[i], reportMsg{msg: m, r: r})
	}
	for _, round := range rounds {
		// The chunks of one round touch distinct devices: commit them concurrently,
		// which etcd turns into fewer disk syncs.
		var wg sync.WaitGroup
		errs := make(chan error, (len(round)+maxReportsPerTxn-1)/maxReportsPerTxn)
		for len(round) > 0 {
			n := min(len(round), maxReportsPerTxn)
			chunk := round[:n]
			round = round[n:]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.applyChunk(ctx, f, chunk); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			return err
		}
	}
	return nil
}

// applyChunk applies reports of distinct devices in one fenced transaction, or one
// by one when that transaction does not succeed as a whole.
func (c *Coordinator) applyChunk(ctx context.Context, f profiles.Fence, chunk []reportMsg) error {
	lease, lerr := c.reportLeaseID(ctx)
	if len(chunk) > 1 && lerr == nil {
		cmps := []clientv3.Cmp{f.Cmp()}
		var ops []clientv3.Op
		for _, rm := range chunk {
			cs, puts, err := reportOps(rm.r, lease)
			if err != nil {
				cmps = nil
				break
			}
			cmps = append(cmps, cs...)
			ops = append(ops, puts...)
		}
		if cmps != nil {
			cctx, cancel := c.callCtx(ctx)
			resp, err := c.etcd.Txn(cctx).If(cmps...).Then(ops...).Commit()
			cancel()
			if err == nil && resp.Succeeded {
				for _, rm := range chunk {
					c.applied(rm)
				}
				c.log.Debug("reports applied together", "reports", len(chunk))
				return nil
			}
			if errors.Is(err, rpctypes.ErrLeaseNotFound) {
				c.forgetReportLease()
			}
			c.log.Debug("reports applied one by one", "reports", len(chunk), "err", err)
		}
	}
	for _, rm := range chunk {
		if err := c.applyOne(ctx, f, rm); err != nil {
			return err
		}
	}
	return nil
}

// decodeMsg decodes a report message; a malformed one is termed (never redelivered)
// and counted, and ok is false.
func (c *Coordinator) decodeMsg(msg jetstream.Msg) (r *fpv1.Report, ok bool) {
	r, err := c.decodeReport(msg.Subject(), msg.Data())
	if err != nil {
		c.metrics.reports.WithLabelValues("rejected").Inc()
		c.log.Warn("report rejected", "subject", truncate(msg.Subject(), 128), "reason", err)
		if terr := msg.TermWithReason(truncate(err.Error(), 200)); terr != nil {
			c.log.Warn("report term", "err", terr)
		}
		return nil, false
	}
	if r.GetSeq() == 0 {
		// No agent sequence: the stream sequence identifies the message across
		// redeliveries, which is what de-duplication after a failover needs.
		md, err := msg.Metadata()
		if err != nil {
			c.metrics.reports.WithLabelValues("error").Inc()
			_ = msg.NakWithDelay(time.Second)
			return nil, false
		}
		r.Seq = md.Sequence.Stream
	}
	return r, true
}

// applied acks an applied report and tells the report hook.
func (c *Coordinator) applied(rm reportMsg) {
	if err := rm.msg.Ack(); err != nil {
		// Not fatal: the report is applied, a redelivery will be seen as a duplicate.
		c.log.Warn("report ack", "err", err)
	}
	c.metrics.reports.WithLabelValues("applied").Inc()
	if c.opts.onReport != nil {
		c.opts.onReport(rm.r)
	}
}

// applyOne applies one report and acks, terms or naks it. It returns ErrNotLeader
// when the fence refused the write and ctx's error when ctx ended; the message is
// then left unacked or nakked so the next leader gets it.
func (c *Coordinator) applyOne(ctx context.Context, f profiles.Fence, rm reportMsg) error {
	r, msg := rm.r, rm.msg
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
	if out == reportDuplicate {
		if err := msg.Ack(); err != nil {
			c.log.Warn("report ack", "err", err)
		}
		c.metrics.reports.WithLabelValues("duplicate").Inc()
		return nil
	}
	c.applied(rm)
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

// reportOps returns the conditions and puts that apply r: the report under its
// (device, seq) key (under lease, so it leaves after ReportRetention), the device's
// last report and last applied seq, only if the
// device is registered and the report key is new, so that a report redelivered after
// a failover is recognised and not applied twice.
func reportOps(r *fpv1.Report, lease clientv3.LeaseID) ([]clientv3.Cmp, []clientv3.Op, error) {
	b, err := proto.Marshal(r)
	if err != nil {
		return nil, nil, fmt.Errorf("report: encode: %w", err)
	}
	rk := reportKey(r.GetClass(), r.GetDeviceId(), r.GetSeq())
	dk := profiles.DeviceKey(r.GetDeviceId())
	return []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(dk), ">", 0),
			clientv3.Compare(clientv3.CreateRevision(rk), "=", 0),
		}, []clientv3.Op{
			clientv3.OpPut(rk, string(b), clientv3.WithLease(lease)),
			clientv3.OpPut(lastReportPrefix+r.GetDeviceId(), string(b)),
			clientv3.OpPut(reportSeqPrefix+r.GetDeviceId(), seqValue(r.GetSeq())),
		}, nil
}

// applyReport stores r in one fenced transaction (see reportOps). It tells a
// duplicate from an unregistered device (errRejected) and a lost fence
// (ErrNotLeader).
func (c *Coordinator) applyReport(ctx context.Context, f profiles.Fence, r *fpv1.Report) (reportOutcome, error) {
	lease, err := c.reportLeaseID(ctx)
	if err != nil {
		return 0, err
	}
	cmps, ops, err := reportOps(r, lease)
	if err != nil {
		return 0, err
	}
	dk := profiles.DeviceKey(r.GetDeviceId())
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	resp, err := c.etcd.Txn(ctx).
		If(append([]clientv3.Cmp{f.Cmp()}, cmps...)...).
		Then(ops...).
		Else(clientv3.OpGet(f.Key, clientv3.WithKeysOnly()),
			clientv3.OpGet(dk, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			c.forgetReportLease()
		}
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
