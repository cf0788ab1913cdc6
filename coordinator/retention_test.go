package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func bareCoordinator(t *testing.T, f *fixture, cli *clientv3.Client, nc *nats.Conn) *Coordinator {
	t.Helper()
	c, err := New(cli, nc, f.key, WithConfig(testConfig("bare")))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReportsExpire checks that an applied report is put under a lease of the
// retention, while the device's last report stays.
func TestReportsExpire(t *testing.T) {
	f := newFixture(t)
	cli := testutil.EtcdClient(t, f.etcd)
	c := bareCoordinator(t, f, cli, testutil.NATSConn(t, f.natsURL))
	ctx := context.Background()
	sess, err := concurrency.NewSession(cli)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, LeaderPrefix)
	if err := el.Campaign(ctx, "bare"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, profiles.DeviceKey("dev-1"), "{}"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.applyReport(ctx, profiles.ElectionFence(el), &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "periodic", Seq: 9}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, reportKey("edge", "dev-1", 9))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("report key: %v, %d keys", err, len(resp.Kvs))
	}
	if resp.Kvs[0].Lease == 0 {
		t.Fatal("report is not under a lease")
	}
	ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := time.Duration(ttl.GrantedTTL)*time.Second, c.cfg.ReportRetention; got != want {
		t.Errorf("report lease TTL: got %v, want the retention %v", got, want)
	}
	last, err := cli.Get(ctx, lastReportPrefix+"dev-1")
	if err != nil || len(last.Kvs) != 1 || last.Kvs[0].Lease != 0 {
		t.Errorf("last report: %v, %d keys; want one key without a lease", err, len(last.Kvs))
	}
}

// TestCompactHistory checks that the leader's compaction removes old revisions.
func TestCompactHistory(t *testing.T) {
	f := newFixture(t)
	cli := testutil.EtcdClient(t, f.etcd)
	c := bareCoordinator(t, f, cli, testutil.NATSConn(t, f.natsURL))
	c.cfg.CompactEvery = 50 * time.Millisecond // below the configurable minimum, for the test
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.compactHistory(ctx) }()
	defer func() { cancel(); <-done }()
	first, err := cli.Put(context.Background(), "/test/k", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), "/test/k", "2"); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := cli.Get(context.Background(), "/test/k", clientv3.WithRev(first.Header.Revision))
		return err == rpctypes.ErrCompacted
	})
}
