package embedded

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Etcd is a single-node etcd server running in this process.
type Etcd struct {
	dir       string
	srv       *embed.Etcd
	endpoints []string
	closing   *atomic.Bool
	lock      *dirLock
	closeOnce sync.Once
}

// StartEtcd starts a single-node etcd server with its data under dir (created if
// missing) and waits until it is ready to serve, or ctx ends (DefaultStartTimeout when
// ctx has no deadline). Starting again on the same dir keeps all data.
func StartEtcd(ctx context.Context, dir string, opts ...EtcdOption) (*Etcd, error) {
	c := defaultEtcdConfig()
	for _, o := range opts {
		o(&c)
	}
	if dir == "" {
		return nil, errors.New("embedded etcd: empty data dir")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded etcd: create data dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "etcd.lock"))
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.unlock()
		}
	}()
	clientURL, err := url.Parse(c.clientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client url %q: %w", c.clientURL, err)
	}
	peerURL, err := url.Parse(c.peerURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: peer url %q: %w", c.peerURL, err)
	}

	cfg := embed.NewConfig()
	cfg.Name = c.name
	cfg.Dir = filepath.Join(dir, "etcd")
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	closing := new(atomic.Bool)
	lg, err := newEtcdLogger(c.logLevel, closing)
	if err != nil {
		return nil, err
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	cfg.QuotaBackendBytes = c.quotaBytes
	cfg.UnsafeNoFsync = c.noFsync

	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: start in %s: %w", cfg.Dir, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultStartTimeout)
		defer cancel()
	}
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		closing.Store(true)
		srv.Close()
		return nil, fmt.Errorf("embedded etcd: serve: %w", err)
	case <-ctx.Done():
		closing.Store(true)
		srv.Server.Stop()
		srv.Close()
		return nil, fmt.Errorf("embedded etcd: not ready: %w", ctx.Err())
	}
	e := &Etcd{dir: dir, srv: srv, closing: closing, lock: lock}
	for _, l := range srv.Clients {
		e.endpoints = append(e.endpoints, "http://"+l.Addr().String())
	}
	ok = true
	return e, nil
}

// Endpoints returns the client URLs the server listens on, with the real ports.
func (e *Etcd) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Dir returns the data directory given to StartEtcd.
func (e *Etcd) Dir() string { return e.dir }

// Err returns a channel that receives a fatal server error.
func (e *Etcd) Err() <-chan error { return e.srv.Err() }

// Client opens a client of the server. The caller closes it.
func (e *Etcd) Client(ctx context.Context) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   e.Endpoints(),
		DialTimeout: 10 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: client: %w", err)
	}
	return cli, nil
}

// Close stops the server and waits until it has released its files. It is safe to
// call more than once.
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.srv.Close()
		<-e.srv.Server.StopNotify()
		e.lock.unlock()
	})
	return nil
}
