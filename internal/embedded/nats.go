package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS is a NATS server with JetStream running in this process.
type NATS struct {
	dir       string
	srv       *server.Server
	lock      *dirLock
	closeOnce sync.Once
}

// StartNATS starts a NATS server with JetStream storing under dir (created if
// missing) and waits until it accepts connections, or ctx ends (DefaultStartTimeout
// when ctx has no deadline). Starting again on the same dir keeps streams, consumers,
// key-value and object stores.
func StartNATS(ctx context.Context, dir string, opts ...NATSOption) (*NATS, error) {
	c := defaultNATSConfig()
	for _, o := range opts {
		o(&c)
	}
	if dir == "" {
		return nil, errors.New("embedded nats: empty data dir")
	}
	storeDir := filepath.Join(dir, "nats")
	if err := os.MkdirAll(storeDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats: create store dir: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "nats.lock"))
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			lock.unlock()
		}
	}()
	if c.port > 0 {
		// nats-server reports a busy port only in its log and then never becomes
		// ready; say so at once instead.
		addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: cannot listen on %s (another NATS server running?): %w", addr, err)
		}
		_ = l.Close()
	}
	sopts := &server.Options{
		ServerName:         c.name,
		Host:               c.host,
		Port:               c.port,
		JetStream:          true,
		StoreDir:           storeDir,
		JetStreamMaxStore:  c.maxStore,
		JetStreamMaxMemory: c.maxMemory,
		MaxPayload:         c.maxPayload,
		NoLog:              true,
		NoSigs:             true,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: configure: %w", err)
	}
	srv.Start()

	timeout := DefaultStartTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if !srv.ReadyForConnections(timeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("embedded nats: not ready: %w", err)
		}
		return nil, fmt.Errorf("embedded nats: not ready for connections on %s:%d after %s", c.host, c.port, timeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("embedded nats: JetStream did not start")
	}
	ok = true
	return &NATS{dir: dir, srv: srv, lock: lock}, nil
}

// ClientURL returns the URL clients connect to, with the real port.
func (n *NATS) ClientURL() string { return n.srv.ClientURL() }

// Dir returns the data directory given to StartNATS.
func (n *NATS) Dir() string { return n.dir }

// Server returns the underlying server, for monitoring and tests.
func (n *NATS) Server() *server.Server { return n.srv }

// Connect opens a client connection to the server. The caller closes it.
func (n *NATS) Connect(opts ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(n.ClientURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: connect: %w", err)
	}
	return nc, nil
}

// Close shuts the server down and waits until it has stopped. It is safe to call
// more than once.
func (n *NATS) Close() error {
	n.closeOnce.Do(func() {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.lock.unlock()
	})
	return nil
}
