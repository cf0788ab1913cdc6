package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS is a NATS server with JetStream running in this process.
type NATS struct {
	dir       string
	srv       *server.Server
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
	return &NATS{dir: dir, srv: srv}, nil
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
	})
	return nil
}
