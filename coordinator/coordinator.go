package coordinator

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Coordinator is one coordinator process. Several may run against one etcd and NATS;
// they elect one leader, which alone writes state, answers agents and ingests
// reports. Every coordinator serves the read side of the HTTP API.
type Coordinator struct {
	cfg     Config
	opts    options
	log     *slog.Logger
	etcd    *clientv3.Client
	nc      *nats.Conn
	js      jetstream.JetStream
	key     ed25519.PrivateKey
	metrics *metrics
	gather  prometheus.Gatherer

	// serving is set while the leader answers registrations and heartbeats.
	serving atomic.Bool

	mu      sync.Mutex
	leading bool
	fence   profiles.Fence

	presence *presence
	classes  classCache
	// reportLease is the lease applied reports are put under.
	reportLease reportLease
	store       *profiles.Store
	apiAddr     string
}

// New returns a coordinator over an etcd client and a NATS connection, signing
// manifests with key. It does not start anything; call Run.
func New(etcd *clientv3.Client, nc *nats.Conn, key ed25519.PrivateKey, opts ...Option) (*Coordinator, error) {
	o := options{cfg: DefaultConfig(), logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	o.cfg = o.cfg.withDefaults()
	if err := o.cfg.Validate(); err != nil {
		return nil, err
	}
	if etcd == nil || nc == nil {
		return nil, errors.New("coordinator: nil etcd client or NATS connection")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("coordinator: signing key is %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("coordinator: jetstream: %w", err)
	}
	if o.registry == nil {
		r := prometheus.NewRegistry()
		o.registry, o.gatherer = r, r
	}
	c := &Coordinator{
		cfg:     o.cfg,
		opts:    o,
		log:     o.logger.With("component", "coordinator", "name", o.cfg.Name),
		etcd:    etcd,
		nc:      nc,
		js:      js,
		key:     key,
		metrics: newMetrics(o.registry),
		gather:  o.gatherer,
	}
	c.presence = newPresence()
	c.store = profiles.NewStore(etcd)
	return c, nil
}

// PublicKey returns the ed25519 key agents verify manifests with.
func (c *Coordinator) PublicKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// Config returns the effective configuration, defaults filled in.
func (c *Coordinator) Config() Config { return c.cfg }

// IsLeader reports whether this coordinator leads right now.
func (c *Coordinator) IsLeader() bool {
	_, ok := c.currentTerm()
	return ok
}

func (c *Coordinator) currentTerm() (profiles.Fence, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fence, c.leading
}

func (c *Coordinator) setLeader(f profiles.Fence, leading bool) {
	c.mu.Lock()
	c.fence, c.leading = f, leading
	c.mu.Unlock()
	if leading {
		c.metrics.leader.Set(1)
		c.metrics.leaderChanges.Inc()
	} else {
		c.metrics.leader.Set(0)
	}
}

// Run campaigns for leadership and leads while elected, serving the HTTP API and
// refreshing the fleet gauges all along, until ctx ends. It returns nil after a clean
// shutdown and an error when the HTTP API cannot listen.
func (c *Coordinator) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	if c.cfg.HTTPAddr != "-" {
		srv, ln, err := c.listenAPI()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.serveAPI(ctx, srv, ln); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.refreshGauges(ctx)
	}()
	err := c.runElection(ctx, c.lead)
	cancel()
	wg.Wait()
	close(errc)
	for e := range errc {
		return e
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// lead does the leader's work for one term of leadership: it sets up JetStream, answers
// registrations and heartbeats, flushes presence, ingests reports and re-places
// devices when classes change, until ctx ends or a part fails.
func (c *Coordinator) lead(ctx context.Context, f profiles.Fence) error {
	cons, err := c.ensureJetStream(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	regSub, err := c.subscribeRegister(ctx, f)
	if err != nil {
		return err
	}
	defer regSub()
	hbSub, err := c.nc.Subscribe(fpv1.SubjectHeartbeatAll, func(m *nats.Msg) { c.handleHeartbeat(ctx, m) })
	if err != nil {
		return fmt.Errorf("lead: subscribe heartbeats: %w", err)
	}
	defer hbSub.Unsubscribe()
	c.serving.Store(true)
	defer c.serving.Store(false)

	parts := []func(context.Context, profiles.Fence) error{
		func(ctx context.Context, f profiles.Fence) error { return c.ingestReports(ctx, f, cons) },
		c.flushPresence,
		c.watchClasses,
		func(ctx context.Context, _ profiles.Fence) error { return c.compactHistory(ctx) },
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(parts))
	for _, p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p(ctx, f); err != nil && !errors.Is(err, context.Canceled) {
				errc <- err
				cancel()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		return e
	}
	return ctx.Err()
}
