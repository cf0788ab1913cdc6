package coordinator

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// TestFailoverNoReportLostOrAppliedTwice runs two coordinators, publishes reports,
// crashes the leader in the middle and checks that the standby takes over within the
// lease TTL and that every report is applied exactly once.
func TestFailoverNoReportLostOrAppliedTwice(t *testing.T) {
	f := newFixture(t)
	cfgA, cfgB := testConfig("a"), testConfig("b")
	cfgA.LeaseTTL, cfgB.LeaseTTL = 2*time.Second, 2*time.Second
	a := f.start(t, cfgA)
	b := f.start(t, cfgB)
	first := waitLeader(t, 10*time.Second, a, b)
	second := b
	if first == b {
		second = a
	}
	admin := testutil.EtcdClient(t, f.etcd)
	const devices, perDevice = 4, 50
	for d := range devices {
		if _, err := admin.Put(context.Background(), profiles.DevicePrefix+fmt.Sprintf("dev-%d", d), "{}"); err != nil {
			t.Fatal(err)
		}
	}
	nc := testutil.NATSConn(t, f.natsURL)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool {
		_, err := js.Stream(context.Background(), fpv1.StreamReports)
		return err == nil
	})
	publish := func(from, to int) {
		for seq := from; seq < to; seq++ {
			for d := range devices {
				publishReport(t, js, &fpv1.Report{
					DeviceId: fmt.Sprintf("dev-%d", d), Class: "edge", Kind: "benchmark", Ok: true,
					Seq: uint64(seq + 1), P50Ns: 1000, P95Ns: 2000, P99Ns: 3000,
				})
			}
		}
	}
	publish(0, perDevice/2)
	// Let the leader apply part of them, then crash it mid-stream.
	testutil.WaitFor(t, 10*time.Second, func() bool { return countKeys(t, admin, reportsPrefix) > 0 })
	crashedAt := time.Now()
	first.crash()
	publish(perDevice/2, perDevice)
	waitLeader(t, 10*time.Second, second)
	// etcd may round a short TTL up to its minimum lease TTL; allow one TTL of slack.
	if took := time.Since(crashedAt); took > 2*cfgB.LeaseTTL {
		t.Errorf("standby took over after %s, want within the lease TTL of %s", took, cfgB.LeaseTTL)
	} else {
		t.Logf("standby took over %s after the crash (lease TTL %s)", took.Round(time.Millisecond), cfgB.LeaseTTL)
	}
	want := int64(devices * perDevice)
	testutil.CheckFor(t, 20*time.Second, func() error {
		if got := countKeys(t, admin, reportsPrefix); got != want {
			return fmt.Errorf("got %d reports in etcd, want %d", got, want)
		}
		return nil
	})
	// Every application puts the device's last report once, in the same transaction
	// as the report key: the key's version counts applications in etcd itself, also
	// those whose reply a crashed leader never saw.
	var applications int64
	for d := range devices {
		resp, err := admin.Get(context.Background(), lastReportPrefix+fmt.Sprintf("dev-%d", d))
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("last report of dev-%d: %v, %d keys", d, err, len(resp.Kvs))
		}
		applications += resp.Kvs[0].Version
	}
	if applications != want {
		t.Errorf("report applications in etcd: got %d, want %d (each report exactly once)", applications, want)
	}
	t.Logf("applied by the first leader %v, by the second %v; duplicates recognised %v",
		counterValue(first.c.metrics.reports.WithLabelValues("applied")),
		counterValue(second.c.metrics.reports.WithLabelValues("applied")),
		counterValue(second.c.metrics.reports.WithLabelValues("duplicate")))
	for d := range devices {
		resp, err := admin.Get(context.Background(), reportSeqPrefix+fmt.Sprintf("dev-%d", d))
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reportseq of dev-%d: %v, %d keys", d, err, len(resp.Kvs))
		}
	}
}

// TestDeposedLeaderWriteRejected takes leadership away from a term (its lease is
// revoked, another coordinator is elected) and checks that a write under the old
// term is refused by etcd and stores nothing.
func TestDeposedLeaderWriteRejected(t *testing.T) {
	f := newFixture(t)
	admin := testutil.EtcdClient(t, f.etcd)
	nc := testutil.NATSConn(t, f.natsURL)
	c, err := New(admin, nc, f.key, WithConfig(testConfig("old")))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := concurrency.NewSession(admin, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	el := concurrency.NewElection(sess, LeaderPrefix)
	if err := el.Campaign(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	old := profiles.ElectionFence(el)
	if _, err := admin.Put(ctx, profiles.DevicePrefix+"dev-1", "{}"); err != nil {
		t.Fatal(err)
	}
	rep := &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "periodic", Seq: 1}
	if out, err := c.applyReport(ctx, old, rep); err != nil || out != reportApplied {
		t.Fatalf("write while leading: got %v, %v; want applied", out, err)
	}
	// Depose: the lease ends (as when the process stalls past its TTL) and a new
	// coordinator wins.
	if _, err := admin.Revoke(ctx, sess.Lease()); err != nil {
		t.Fatal(err)
	}
	sess2, err := concurrency.NewSession(admin, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer sess2.Close()
	el2 := concurrency.NewElection(sess2, LeaderPrefix)
	if err := el2.Campaign(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	rep.Seq = 2
	if _, err := c.applyReport(ctx, old, rep); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write of the deposed leader: got %v, want ErrNotLeader", err)
	}
	if got := countKeys(t, admin, reportsPrefix); got != 1 {
		t.Errorf("reports stored: got %d, want 1 (the deposed write must store nothing)", got)
	}
	// Even an election key re-created at the same path cannot pass the fence: the
	// create revision differs.
	if _, err := admin.Put(ctx, old.Key, "impostor"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.applyReport(ctx, old, rep); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write under a re-created key: got %v, want ErrNotLeader", err)
	}
	newTerm := profiles.ElectionFence(el2)
	if out, err := c.applyReport(ctx, newTerm, rep); err != nil || out != reportApplied {
		t.Fatalf("write of the new leader: got %v, %v; want applied", out, err)
	}
	if out, err := c.applyReport(ctx, newTerm, rep); err != nil || out != reportDuplicate {
		t.Fatalf("same report again: got %v, %v; want duplicate", out, err)
	}
}
