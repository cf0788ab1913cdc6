package agent

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fleetprune/fleetprune/internal/embedded"
	"github.com/fleetprune/fleetprune/internal/testutil"
)

// TestReregistersWhenServerRestarts restarts NATS (as `fleetprune up` restarts it
// together with the coordinator) and checks the agent registers again, keeps its
// durable consumer and still takes commands.
func TestReregistersWhenServerRestarts(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	srv := testutil.NATSServerIn(t, dir, embedded.WithNATSPort(port))
	f := newFleetOn(t, srv.ClientURL())
	a, _ := f.startAgentWith("dev-r", t.TempDir(), []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(50 * time.Millisecond)}, WithThreads(1))
	f.waitRegistered(a)
	before := len(f.registrations())

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv2 := testutil.NATSServerIn(t, dir, embedded.WithNATSPort(port))
	f2 := newFleetOn(t, srv2.ClientURL())
	testutil.WaitFor(t, 20*time.Second, func() bool { return len(f2.registrations()) > 0 })
	if len(f.registrations()) != before {
		t.Errorf("old responder saw %d registrations after the restart, want %d", len(f.registrations()), before)
	}
	reps := f2.reports("dev-r")
	f2.send("dev-r", benchCmd("after-restart", f2.goodVariant("v1", lenet(t, 0))))
	if rep := reps.next(60 * time.Second); !rep.GetOk() || rep.GetCommandId() != "after-restart" {
		t.Fatalf("report = %v, want an ok benchmark after the restart", rep)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
