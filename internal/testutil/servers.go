package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/embedded"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// startTimeout bounds the start of a fixture server.
const startTimeout = 60 * time.Second

// EtcdServer starts an embedded etcd server in a fresh t.TempDir() and stops it when
// the test ends. Pass the returned server's Dir to StartEtcd again to test a restart.
func EtcdServer(t testing.TB, opts ...embedded.EtcdOption) *embedded.Etcd {
	t.Helper()
	return EtcdServerIn(t, t.TempDir(), opts...)
}

// EtcdServerIn starts an embedded etcd server with its data under dir and stops it
// when the test ends (or earlier, by Close).
func EtcdServerIn(t testing.TB, dir string, opts ...embedded.EtcdOption) *embedded.Etcd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := embedded.StartEtcd(ctx, dir, append([]embedded.EtcdOption{embedded.WithEtcdUnsafeNoFsync()}, opts...)...)
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// Etcd starts an embedded etcd server for the test and returns a client of it; both
// are closed when the test ends.
func Etcd(t testing.TB) *clientv3.Client {
	t.Helper()
	return EtcdClient(t, EtcdServer(t))
}

// EtcdClient opens a client of srv that is closed when the test ends.
func EtcdClient(t testing.TB, srv *embedded.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := srv.Client(context.Background())
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	// Cleanups run last-in first-out: the client closes before its server.
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// NATSServer starts an embedded NATS server with JetStream in a fresh t.TempDir() and
// shuts it down when the test ends.
func NATSServer(t testing.TB, opts ...embedded.NATSOption) *embedded.NATS {
	t.Helper()
	return NATSServerIn(t, t.TempDir(), opts...)
}

// NATSServerIn starts an embedded NATS server with JetStream storing under dir and
// shuts it down when the test ends (or earlier, by Close).
func NATSServerIn(t testing.TB, dir string, opts ...embedded.NATSOption) *embedded.NATS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := embedded.StartNATS(ctx, dir, opts...)
	if err != nil {
		t.Fatalf("testutil: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// NATS starts an embedded NATS server with JetStream for the test and returns a
// connection to it and its client URL (for more connections); both close when the
// test ends.
func NATS(t testing.TB) (*nats.Conn, string) {
	t.Helper()
	srv := NATSServer(t)
	return NATSConn(t, srv.ClientURL()), srv.ClientURL()
}

// NATSConn connects to url and closes the connection when the test ends.
func NATSConn(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("testutil: connect to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}
