// Package stack runs a whole fleet in one process: embedded etcd and NATS with
// JetStream, one or more coordinators each with its tuning and rollout loops, and
// local agents, each agent with its own NATS connection. The demo and the end-to-end
// tests use it; `fleetprune up` runs the same parts.
package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/rollouts"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/internal/embedded"
)

// Config configures a stack. Zero fields take defaults.
type Config struct {
	// Dir holds etcd's and NATS's data, the signing key and the agents' data.
	Dir string
	// Coordinator is the coordinators' configuration; Name and HTTPAddr are set per
	// node.
	Coordinator coordinator.Config
	Workbench   tuner.WorkbenchConfig
	Tuner       tuner.Config
	Rollouts    rollouts.Config
	Log         *slog.Logger
	// EtcdNoFsync trades durability for speed in tests.
	EtcdNoFsync bool
}

// Stack is a running in-process fleet.
type Stack struct {
	cfg   Config
	log   *slog.Logger
	Etcd  *embedded.Etcd
	NATS  *embedded.NATS
	Bench *tuner.Workbench

	mu     sync.Mutex
	nodes  []*Node
	agents []*Agent
}

// Start starts etcd and NATS under cfg.Dir. Coordinators and agents are started
// with StartNode and StartAgent.
func Start(ctx context.Context, cfg Config) (*Stack, error) {
	if cfg.Dir == "" {
		return nil, errors.New("stack: no data directory")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	var eopts []embedded.EtcdOption
	if cfg.EtcdNoFsync {
		eopts = append(eopts, embedded.WithEtcdUnsafeNoFsync())
	}
	e, err := embedded.StartEtcd(ctx, filepath.Join(cfg.Dir, "etcd"), eopts...)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	n, err := embedded.StartNATS(ctx, filepath.Join(cfg.Dir, "nats"))
	if err != nil {
		_ = e.Close()
		return nil, fmt.Errorf("stack: %w", err)
	}
	wb := cfg.Workbench
	if wb.Log == nil {
		wb.Log = cfg.Log
	}
	if cfg.Tuner.Log == nil {
		cfg.Tuner.Log = cfg.Log
	}
	if cfg.Rollouts.Log == nil {
		cfg.Rollouts.Log = cfg.Log
	}
	return &Stack{cfg: cfg, log: cfg.Log, Etcd: e, NATS: n, Bench: tuner.NewWorkbench(wb)}, nil
}

// Client returns a new etcd client of the stack; the caller closes it.
func (s *Stack) Client(ctx context.Context) (*clientv3.Client, error) { return s.Etcd.Client(ctx) }

// Node is one coordinator with its reconcilers, its own etcd client and NATS
// connection.
type Node struct {
	Name        string
	Coordinator *coordinator.Coordinator
	Tuner       *tuner.Reconciler
	Rollouts    *rollouts.Controller
	etcd        *clientv3.Client
	nc          *nats.Conn
	cancel      context.CancelFunc
	done        chan struct{}
	stopOnce    sync.Once
	apiAddr     string
}

// APIAddr is the address of the node's HTTP API and dashboard ("" when it serves
// none).
func (n *Node) APIAddr() string { return n.apiAddr }

// StartNode starts a coordinator named name, serving its HTTP API on httpAddr ("-"
// for none), with the tuning loop beside it. All nodes share one signing key.
func (s *Stack) StartNode(ctx context.Context, name, httpAddr string) (*Node, error) {
	key, err := coordinator.LoadOrCreateSigningKey(filepath.Join(s.cfg.Dir, "coordinator.key"))
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	cli, err := s.Etcd.Client(ctx)
	if err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	nc, err := s.NATS.Connect(nats.Name("coordinator-" + name))
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("stack: %w", err)
	}
	cc := s.cfg.Coordinator
	// The node serves the coordinator's API behind the dashboard itself.
	cc.Name, cc.HTTPAddr = name, "-"
	reg := prometheus.NewRegistry()
	if err := dashboard.RegisterMetrics(reg, cli, dashboard.WithStaleAfter(cc.StaleAfter)); err != nil {
		nc.Close()
		_ = cli.Close()
		return nil, fmt.Errorf("stack: metrics: %w", err)
	}
	c, err := coordinator.New(cli, nc, key, coordinator.WithConfig(cc), coordinator.WithLogger(s.log), coordinator.WithRegistry(reg))
	if err != nil {
		nc.Close()
		_ = cli.Close()
		return nil, err
	}
	js, err := jetstreamOf(nc)
	if err != nil {
		nc.Close()
		_ = cli.Close()
		return nil, err
	}
	t := tuner.New(cli, c, tuner.ObjectArtifacts(js), s.Bench, s.cfg.Tuner)
	ro := rollouts.New(cli, c, s.cfg.Rollouts)
	rctx, cancel := context.WithCancel(context.Background())
	n := &Node{Name: name, Coordinator: c, Tuner: t, Rollouts: ro, etcd: cli, nc: nc, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	if httpAddr != "-" {
		srv, ln, err := listen(httpAddr, dashboard.New(cli, ro, dashboard.WithAPI(c.Handler()), dashboard.WithStaleAfter(cc.StaleAfter)))
		if err != nil {
			cancel()
			nc.Close()
			_ = cli.Close()
			return nil, err
		}
		n.apiAddr = ln.Addr().String()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(rctx, srv, ln, s.log)
		}()
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := ro.Run(rctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("rollouts stopped", "name", name, "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := c.Run(rctx); err != nil {
			s.log.Error("coordinator stopped", "name", name, "err", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := t.Run(rctx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("tuner stopped", "name", name, "err", err)
		}
	}()
	go func() {
		wg.Wait()
		close(n.done)
	}()
	s.mu.Lock()
	s.nodes = append(s.nodes, n)
	s.mu.Unlock()
	return n, nil
}

// Stop stops the node's coordinator and loops, as a crash would from the fleet's
// point of view: its session is closed, so another node takes over.
func (n *Node) Stop() {
	n.stopOnce.Do(func() {
		n.cancel()
		<-n.done
		n.nc.Close()
		_ = n.etcd.Close()
	})
}

// Agent is a local agent with its own NATS connection.
type Agent struct {
	*agent.Agent
	nc       *nats.Conn
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// StartAgent starts a local agent with id and the given options; its data lives
// under the stack's directory.
func (s *Stack) StartAgent(ctx context.Context, id string, opts ...agent.Option) (*Agent, error) {
	nc, err := s.NATS.Connect(nats.Name("agent-" + id))
	if err != nil {
		return nil, fmt.Errorf("stack: agent %s: %w", id, err)
	}
	all := append([]agent.Option{
		agent.WithDeviceID(id),
		agent.WithDataDir(filepath.Join(s.cfg.Dir, "agents", id)),
		agent.WithLogger(s.log.With("agent", id)),
	}, opts...)
	a, err := agent.New(nc, all...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("stack: agent %s: %w", id, err)
	}
	actx, cancel := context.WithCancel(context.Background())
	h := &Agent{Agent: a, nc: nc, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if err := a.Run(actx); err != nil && !errors.Is(err, context.Canceled) {
			s.log.Error("agent stopped", "agent", id, "err", err)
		}
	}()
	s.mu.Lock()
	s.agents = append(s.agents, h)
	s.mu.Unlock()
	return h, nil
}

// Stop stops the agent.
func (a *Agent) Stop() {
	a.stopOnce.Do(func() {
		a.cancel()
		<-a.done
		a.nc.Close()
	})
}

// Close stops every agent and node, then NATS and etcd.
func (s *Stack) Close() error {
	s.mu.Lock()
	agents, nodes := s.agents, s.nodes
	s.agents, s.nodes = nil, nil
	s.mu.Unlock()
	for _, a := range agents {
		a.Stop()
	}
	for _, n := range nodes {
		n.Stop()
	}
	return errors.Join(s.NATS.Close(), s.Etcd.Close())
}

// WaitLeader waits until one of the started nodes leads and returns it.
func (s *Stack) WaitLeader(ctx context.Context, timeout time.Duration) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		s.mu.Lock()
		nodes := append([]*Node(nil), s.nodes...)
		s.mu.Unlock()
		for _, n := range nodes {
			if n.Coordinator.IsLeader() {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stack: no leader within %v", timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
