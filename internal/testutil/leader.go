package testutil

import (
	"context"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Leader wins the coordinators' election (profiles.LeaderPrefix) as name with a new
// session of TTL 5s, and returns the fence for fenced writes and the session
// (revoke its lease to depose the leader). The session closes when the test ends.
func Leader(t testing.TB, cli *clientv3.Client, name string) (profiles.Fence, *concurrency.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(5), concurrency.WithContext(context.Background()))
	if err != nil {
		t.Fatalf("testutil: session: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e := concurrency.NewElection(s, profiles.LeaderPrefix)
	if err := e.Campaign(ctx, name); err != nil {
		t.Fatalf("testutil: campaign as %s: %v", name, err)
	}
	return profiles.ElectionFence(e), s
}
