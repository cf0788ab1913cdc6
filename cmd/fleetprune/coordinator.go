package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/rollouts"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
)

func init() { subcommands = append(subcommands, newCoordinatorCmd) }

func newCoordinatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator against an external etcd and NATS (production; run two or more)",
		Long: `Run one coordinator against an etcd cluster and a NATS cluster with JetStream.
Coordinators elect a leader through etcd; the leader sets up the streams and the model
bucket, answers agents, ingests reports, tunes and rolls out variants and writes
state, each write fenced on its leadership. Standbys serve the dashboard and the read
side of the HTTP API and take over within the lease TTL when the leader dies. All
coordinators must share one signing key file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			log := newLogger(s.LogLevel)
			ctx := cmd.Context()
			cli, err := clientv3.New(clientv3.Config{
				Endpoints: s.etcdEndpoints(), DialTimeout: 10 * time.Second, Context: ctx, Logger: zap.NewNop(),
			})
			if err != nil {
				return fmt.Errorf("coordinator: etcd %v: %w", s.etcdEndpoints(), err)
			}
			defer cli.Close()
			nc, err := nats.Connect(s.NATS, nats.Name("fleetprune-coordinator-"+s.Coordinator.Name), nats.MaxReconnects(-1))
			if err != nil {
				return fmt.Errorf("coordinator: nats %s: %w", s.NATS, err)
			}
			defer nc.Close()
			key, err := coordinator.LoadOrCreateSigningKey(s.Coordinator.KeyFile)
			if err != nil {
				return err
			}
			n, err := newNode(cli, nc, key, s, log, nil)
			if err != nil {
				return err
			}
			log.Info("coordinator starting", "name", s.Coordinator.Name, "etcd", s.etcdEndpoints(), "nats", s.NATS, "http", n.apiAddr)
			return n.run(ctx)
		},
	}
	addConfigFlag(cmd)
	addServerFlags(cmd)
	cmd.Flags().String("etcd", defaultEtcdURLs, "etcd client URLs, comma-separated")
	cmd.Flags().String("nats", defaultNATSURL, "NATS server URL")
	return cmd
}

// node is one coordinator with the loops that run beside it (tuning, rollouts) and
// its HTTP server: the dashboard, with the coordinator's API behind it.
type node struct {
	c       *coordinator.Coordinator
	tuner   *tuner.Reconciler
	ro      *rollouts.Controller
	srv     *http.Server
	ln      net.Listener
	apiAddr string
	log     *slog.Logger
}

// newNode builds a node and opens its listener. cpu, when set, is shared by the
// tuning workbench with local agents' benchmarks.
func newNode(cli *clientv3.Client, nc *nats.Conn, key ed25519.PrivateKey, s *settings, log *slog.Logger, cpu tuner.Gate) (*node, error) {
	cc := s.Coordinator
	httpAddr := cc.HTTPAddr
	cc.HTTPAddr = "-" // served below, behind the dashboard
	// One registry for the coordinator's own metrics and the fleet-state gauges the
	// dashboard computes from etcd at each scrape.
	reg := prometheus.NewRegistry()
	if err := dashboard.RegisterMetrics(reg, cli, dashboard.WithStaleAfter(cc.StaleAfter), dashboard.WithLogger(log)); err != nil {
		return nil, fmt.Errorf("coordinator: metrics: %w", err)
	}
	c, err := coordinator.New(cli, nc, key, coordinator.WithConfig(cc), coordinator.WithLogger(log), coordinator.WithRegistry(reg))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("coordinator: jetstream: %w", err)
	}
	wb := tuner.NewWorkbench(tuner.WorkbenchConfig{Log: log, CPU: cpu})
	n := &node{
		c:     c,
		tuner: tuner.New(cli, c, tuner.ObjectArtifacts(js), wb, tuner.Config{Log: log}),
		ro:    rollouts.New(cli, c, rollouts.Config{Plan: s.Rollout.plan(), Log: log}),
		log:   log,
	}
	if httpAddr != "-" {
		n.ln, err = net.Listen("tcp", httpAddr)
		if err != nil {
			return nil, fmt.Errorf("coordinator: http: listen on %s: %w", httpAddr, err)
		}
		n.apiAddr = n.ln.Addr().String()
		n.srv = &http.Server{
			Handler: dashboard.New(cli, n.ro, dashboard.WithAPI(c.Handler()),
				dashboard.WithStaleAfter(c.Config().StaleAfter), dashboard.WithLogger(log)),
			ReadHeaderTimeout: 10 * time.Second,
		}
	}
	return n, nil
}

// run runs the coordinator, its loops and the HTTP server until ctx ends, then shuts
// them down and waits for them.
func (n *node) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	part := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	part("coordinator", n.c.Run)
	part("tuning", n.tuner.Run)
	part("rollouts", n.ro.Run)
	if n.srv != nil {
		part("http", func(ctx context.Context) error {
			errs := make(chan error, 1)
			go func() { errs <- n.srv.Serve(n.ln) }()
			select {
			case err := <-errs:
				return err
			case <-ctx.Done():
			}
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			if err := n.srv.Shutdown(sctx); err != nil {
				n.srv.Close()
			}
			if err := <-errs; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		n.log.Info("dashboard and API listening", "url", "http://"+n.apiAddr+"/")
	}
	<-ctx.Done()
	wg.Wait()
	close(errc)
	for err := range errc {
		return err
	}
	return nil
}
