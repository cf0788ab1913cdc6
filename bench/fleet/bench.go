package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/internal/embedded"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

type bench struct {
	p   params
	c   *coordinator.Coordinator
	reg *prometheus.Registry
	ns  *embedded.NATS
	dir string
	log *slog.Logger
}

// sim is one simulated agent: its own NATS connection, speaking the wire protocol.
type sim struct {
	id, class string
	cores     int32
	nc        *nats.Conn
	js        jetstream.JetStream
}

// coresOf spreads the fleet over profiles so that placement has work to do.
func coresOf(i int) int32 { return []int32{1, 2, 4, 8}[i%4] }

func (b *bench) run(ctx context.Context) error {
	api, err := b.waitReady(ctx)
	if err != nil {
		return err
	}
	if err := b.declareFleet(ctx, api); err != nil {
		return err
	}

	n := b.p.agents
	sims := make([]*sim, n)
	t0 := time.Now()
	if err := parallel(ctx, n, 64, func(i int) error {
		id := fmt.Sprintf("dev-%04d", i)
		nc, err := b.ns.Connect(nats.Name("bench-"+id), nats.MaxReconnects(-1))
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			return err
		}
		sims[i] = &sim{id: id, cores: coresOf(i), nc: nc, js: js}
		return nil
	}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		for _, s := range sims {
			if s != nil {
				s.nc.Close()
			}
		}
	}()
	fmt.Printf("connected %d NATS clients in %v\n", n, time.Since(t0).Round(time.Millisecond))

	var regDur time.Duration
	var stopAgents func()
	if b.p.mode == "agent" {
		regDur, stopAgents, err = b.registerAgents(ctx, sims)
		if stopAgents != nil {
			defer stopAgents()
		}
	} else {
		regDur, err = b.registerSims(ctx, sims)
	}
	if err != nil {
		return err
	}
	fmt.Printf("registrations: %d in %v = %.0f registrations/s\n", n, regDur.Round(time.Millisecond), float64(n)/regDur.Seconds())

	devices, err := b.c.Devices(ctx)
	if err != nil {
		return err
	}
	byClass := map[string]int{}
	for _, d := range devices {
		byClass[d.Class]++
		for _, s := range sims {
			if s.id == d.ID {
				s.class = d.Class
			}
		}
	}
	fmt.Printf("coordinator's view: %d devices, per class %v\n", len(devices), byClass)
	if len(devices) != n {
		return fmt.Errorf("coordinator stores %d devices, want %d", len(devices), n)
	}
	if b.p.reports == 0 {
		return nil
	}

	hctx, hcancel := context.WithCancel(ctx)
	var hwg sync.WaitGroup
	if b.p.mode == "sim" {
		for _, s := range sims {
			hwg.Add(1)
			go func() {
				defer hwg.Done()
				s.heartbeats(hctx, b.p.heartbeat)
			}()
		}
	}
	defer func() {
		hcancel()
		hwg.Wait()
	}()

	total := n * b.p.reports
	before := b.counter("fleetprune_coordinator_reports_ingested_total", "applied")
	t1 := time.Now()
	var published atomic.Int64
	if err := parallel(ctx, n, n, func(i int) error {
		s := sims[i]
		for seq := 1; seq <= b.p.reports; seq++ {
			r := &fpv1.Report{
				DeviceId: s.id, Class: s.class, Kind: "periodic", Ok: true, VariantId: "base",
				Runs: 200, P50Ns: 900_000, P95Ns: 1_200_000, P99Ns: 1_500_000, MeanNs: 950_000,
				PeakRssBytes: 64 << 20, Threads: s.cores, Seq: uint64(seq), MeasuredAt: timestamppb.Now(),
				Layers: []*fpv1.LayerTiming{{Node: "conv1", Op: "Conv", MeanNs: 400_000}, {Node: "fc1", Op: "Gemm", MeanNs: 300_000}},
			}
			data, err := proto.Marshal(r)
			if err != nil {
				return err
			}
			if _, err := s.js.PublishAsync(fpv1.ReportSubject(s.class, s.id), data, jetstream.WithMsgID(fmt.Sprintf("%s-%d", s.id, seq))); err != nil {
				return err
			}
		}
		select {
		case <-s.js.PublishAsyncComplete():
		case <-time.After(60 * time.Second):
			return errors.New("report publish acks not received within 60s")
		}
		published.Add(int64(b.p.reports))
		return nil
	}); err != nil {
		return fmt.Errorf("publish reports: %w", err)
	}
	pubDur := time.Since(t1)
	fmt.Printf("reports published and stored by JetStream: %d in %v = %.0f reports/s\n", published.Load(), pubDur.Round(time.Millisecond), float64(published.Load())/pubDur.Seconds())
	// A report counts as ingested once the coordinator applied it or found it
	// already applied (a transaction whose answer was lost commits all the same);
	// etcd is then checked to hold each report exactly once.
	beforeDup := b.counter("fleetprune_coordinator_reports_ingested_total", "duplicate")
	ingested := func() float64 {
		return b.counter("fleetprune_coordinator_reports_ingested_total", "applied") - before +
			b.counter("fleetprune_coordinator_reports_ingested_total", "duplicate") - beforeDup
	}
	deadline := time.Now().Add(10 * time.Minute)
	for ingested() < float64(total) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("only %.0f of %d reports ingested", ingested(), total)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ingDur := time.Since(t1)
	fmt.Printf("reports ingested (applied to etcd, acked): %d in %v = %.0f reports/s\n", total, ingDur.Round(time.Millisecond), float64(total)/ingDur.Seconds())
	stored, err := b.c.StoredReports(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("reports stored in etcd: %d (want %d)\n", stored, total)
	if stored != int64(total) {
		return fmt.Errorf("etcd holds %d reports, want %d", stored, total)
	}
	fmt.Printf("duplicates %.0f, rejected %.0f, errors %.0f; heartbeats ok %.0f\n",
		b.counter("fleetprune_coordinator_reports_ingested_total", "duplicate"),
		b.counter("fleetprune_coordinator_reports_ingested_total", "rejected"),
		b.counter("fleetprune_coordinator_reports_ingested_total", "error"),
		b.counter("fleetprune_coordinator_heartbeats_total", "ok"))
	return nil
}

// registerSims has every simulated agent register at once and returns the time
// until the last accepted reply.
func (b *bench) registerSims(ctx context.Context, sims []*sim) (time.Duration, error) {
	t0 := time.Now()
	lat := make([]time.Duration, len(sims))
	err := parallel(ctx, len(sims), len(sims), func(i int) error {
		s := sims[i]
		req := &fpv1.RegisterRequest{DeviceId: s.id, AgentVersion: "bench-sim", Profile: &fpv1.HardwareProfile{
			Arch: "amd64", CpuModel: "bench", Cores: s.cores, MemoryBytes: 2 << 30, Os: "linux",
			Runtimes: []string{"fleetprune-go"}, Threads: s.cores, SimdFlags: []string{"avx2", "fma"},
		}}
		data, err := proto.Marshal(req)
		if err != nil {
			return err
		}
		start := time.Now()
		msg, err := s.nc.RequestWithContext(ctx, fpv1.SubjectRegister, data)
		if err != nil {
			return fmt.Errorf("%s: register: %w", s.id, err)
		}
		lat[i] = time.Since(start)
		rep := &fpv1.RegisterReply{}
		if err := proto.Unmarshal(msg.Data, rep); err != nil {
			return err
		}
		if !rep.GetAccepted() {
			return fmt.Errorf("%s: refused: %s", s.id, rep.GetReason())
		}
		s.class = rep.GetClass()
		return nil
	})
	d := time.Since(t0)
	if err == nil {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		fmt.Printf("registration latency: p50 %v, p95 %v, max %v\n", lat[len(lat)/2].Round(time.Millisecond),
			lat[len(lat)*95/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}
	return d, err
}

// registerAgents runs the agent package's agents on the sims' connections and
// returns the time until the coordinator accepted every registration.
func (b *bench) registerAgents(ctx context.Context, sims []*sim) (time.Duration, func(), error) {
	actx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop := func() {
		cancel()
		wg.Wait()
	}
	// Agents are built first (each opens its data directory), then all started at
	// once: the clock runs from the start to the last accepted registration.
	agents := make([]*agent.Agent, len(sims))
	for i, s := range sims {
		hw := agent.DetectHardware()
		hw.Cores, hw.Threads = s.cores, s.cores
		a, err := agent.New(s.nc, agent.WithDeviceID(s.id), agent.WithDataDir(filepath.Join(b.dir, "agents", s.id)),
			agent.WithLogger(b.log), agent.WithHardware(hw))
		if err != nil {
			return 0, stop, fmt.Errorf("agent %s: %w", s.id, err)
		}
		agents[i] = a
	}
	before := b.counter("fleetprune_coordinator_registrations_total", "accepted")
	t0 := time.Now()
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Run(actx)
		}()
	}
	for b.counter("fleetprune_coordinator_registrations_total", "accepted")-before < float64(len(sims)) {
		if ctx.Err() != nil {
			return 0, stop, ctx.Err()
		}
		if time.Since(t0) > 5*time.Minute {
			return 0, stop, fmt.Errorf("only %.0f of %d agents registered within 5m", b.counter("fleetprune_coordinator_registrations_total", "accepted")-before, len(sims))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(t0), stop, nil
}

func (s *sim) heartbeats(ctx context.Context, every time.Duration) {
	// Spread the fleet's heartbeats over the interval, as real agents started at
	// different times would.
	h := int64(0)
	for _, c := range s.id {
		h = h*31 + int64(c)
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(h % int64(every))):
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		b, _ := proto.Marshal(&fpv1.Heartbeat{DeviceId: s.id, Class: s.class, Seq: seq, SentAt: timestamppb.Now()})
		_ = s.nc.Publish(fpv1.HeartbeatSubject(s.id), b)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// counter reads a counter of the coordinator's registry with label result.
func (b *bench) counter(name, result string) float64 {
	mfs, err := b.reg.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// parallel runs f(0..n-1) with at most width at once and returns the first error.
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	sem := make(chan struct{}, width)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				once.Do(func() { first = err })
			}
		}()
	}
	wg.Wait()
	return first
}
