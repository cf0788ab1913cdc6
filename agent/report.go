package agent

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// reportAttempts bounds how often one report publication is tried.
const reportAttempts = 3

// errNoClass means a report cannot be published: without a class there is no
// report subject.
var errNoClass = errors.New("report: device has no class")

// publishReport stamps rep with the device, class and the next sequence number, sets
// ok (no error and not a refusal), and
// publishes it on the device's report subject, with a message id of device and
// sequence so that the stream drops a duplicate from a retry.
func (a *Agent) publishReport(ctx context.Context, rep *fpv1.Report) error {
	class := a.Class()
	if class == "" {
		return errNoClass
	}
	seq, err := a.seq.Next()
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	rep.DeviceId, rep.Class, rep.Seq = a.id, class, seq
	rep.Ok = rep.GetError() == "" && rep.GetKind() != KindRefused
	if rep.MeasuredAt == nil {
		rep.MeasuredAt = timestamppb.Now()
	}
	b, err := proto.Marshal(rep)
	if err != nil {
		return fmt.Errorf("report: encode: %w", err)
	}
	subject := fpv1.ReportSubject(class, a.id)
	msgID := a.id + "-" + strconv.FormatUint(seq, 10)
	for attempt := 0; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, a.cfg.registerTimeout)
		_, err = a.js.Publish(pctx, subject, b, jetstream.WithMsgID(msgID))
		cancel()
		if err == nil {
			a.met.reports.WithLabelValues(a.id, rep.GetKind()).Inc()
			return nil
		}
		if attempt+1 == reportAttempts || ctx.Err() != nil {
			return fmt.Errorf("report: publish %s: %w", subject, err)
		}
		if sleepCtx(ctx, backoff(attempt, a.cfg.retryMin, a.cfg.retryMax)) != nil {
			return fmt.Errorf("report: publish %s: %w", subject, ctx.Err())
		}
	}
}

// benchmark runs one benchmark of the model file at path through the agent's runner,
// holding a slot of the bench gate, and records its latencies in the histogram.
func (a *Agent) benchmark(ctx context.Context, path string, shape []int64, seed uint64, warmup, runs, batch int, purpose string) (*benchResult, error) {
	if err := a.cfg.gate.acquire(ctx); err != nil {
		return nil, err
	}
	defer a.cfg.gate.release()
	spec := benchSpec{
		ModelPath: path, Warmup: warmup, Runs: runs, Batch: batch,
		Threads: int(a.profile.GetThreads()), SampleShape: shape, ProbeSeed: seed,
	}
	res, err := a.runner.run(ctx, spec)
	if err != nil {
		return nil, err
	}
	h := a.met.latency.WithLabelValues(a.id, purpose)
	for _, ns := range res.Latencies {
		h.Observe(time.Duration(ns).Seconds())
	}
	a.log.Info("benchmark", "purpose", purpose, "runs", res.Runs, "p50", time.Duration(res.P50),
		"p95", time.Duration(res.P95), "threads", res.Threads, "isolation", res.Isolation)
	return res, nil
}

// periodicReports benchmarks the installed variant every configured interval and
// publishes a periodic report, until ctx ends.
func (a *Agent) periodicReports(ctx context.Context) {
	t := time.NewTicker(a.cfg.periodicInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := a.periodicOnce(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("periodic report", "err", err)
		}
	}
}

func (a *Agent) periodicOnce(ctx context.Context) error {
	a.work.Lock()
	defer a.work.Unlock()
	v := a.store.Current()
	if v == nil {
		return nil
	}
	rep := a.newReport(nil, KindPeriodic)
	rep.VariantId = v.VariantID
	res, err := a.benchmark(ctx, a.store.modelPath(v.SHA256), v.SampleShape, v.ProbeSeed, a.cfg.warmupRuns, a.cfg.timedRuns, DefaultBatchSize, KindPeriodic)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		rep.Error = err.Error()
	} else {
		fillResult(rep, res)
	}
	return a.publishReport(ctx, rep)
}
