package dashboard_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// TestWithCoordinator mounts the dashboard beside a real coordinator's API (embedded
// etcd and NATS): the fleet is applied and a device registers and sends heartbeats
// through the real paths, and the dashboard shows it live, then stale once it goes
// silent; the coordinator's own endpoints answer through the same handler.
func TestWithCoordinator(t *testing.T) {
	etcdSrv := testutil.EtcdServer(t)
	cli := testutil.EtcdClient(t, etcdSrv)
	nc, _ := testutil.NATS(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := coordinator.Config{Name: "c1", HTTPAddr: "-", LeaseTTL: time.Second, HeartbeatInterval: 100 * time.Millisecond,
		PresenceFlush: 50 * time.Millisecond, StaleAfter: 1500 * time.Millisecond, ReportAckWait: time.Second}
	coord, err := coordinator.New(cli, nc, key, coordinator.WithConfig(cfg), coordinator.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopCoord := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- coord.Run(ctx) }()
	t.Cleanup(func() {
		stopCoord()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("coordinator did not stop")
		}
	})
	testutil.WaitFor(t, 15*time.Second, coord.IsLeader)

	base, stop := context.WithCancel(context.Background())
	srv := httptest.NewServer(dashboard.New(cli, nil, dashboard.WithAPI(coord.Handler()),
		dashboard.WithStaleAfter(cfg.StaleAfter), dashboard.WithContext(base)))
	t.Cleanup(srv.Close)
	t.Cleanup(stop)

	onnx, err := os.ReadFile(filepath.Join(repoRoot(t), "pruning", "testdata", "resnet_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	api, err := coordinator.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var art *coordinator.ArtifactResult
	testutil.CheckFor(t, 15*time.Second, func() error {
		art, err = api.UploadArtifact(context.Background(), onnx)
		return err
	})
	doc := fmt.Sprintf(`models:
  - name: resnet-tiny
    digest: %s
    dataset: mnist
classes:
  - name: edge
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
`, art.SHA256)
	if _, err := api.Apply(context.Background(), []byte(doc)); err != nil {
		t.Fatalf("apply through the dashboard's handler: %v", err)
	}

	reg, _ := proto.Marshal(&fpv1.RegisterRequest{DeviceId: "dev-1", AgentVersion: "test",
		Profile: &fpv1.HardwareProfile{Arch: "amd64", Cores: 2, MemoryBytes: 1 << 30, Os: "linux"}})
	testutil.CheckFor(t, 10*time.Second, func() error {
		msg, err := nc.Request(fpv1.SubjectRegister, reg, 2*time.Second)
		if err != nil {
			return err
		}
		rep := &fpv1.RegisterReply{}
		if err := proto.Unmarshal(msg.Data, rep); err != nil || !rep.GetAccepted() || rep.GetClass() != "edge" {
			return fmt.Errorf("register: %v %v", err, rep)
		}
		return nil
	})

	hbCtx, stopHB := context.WithCancel(context.Background())
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		tick := time.NewTicker(cfg.HeartbeatInterval)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			b, _ := proto.Marshal(&fpv1.Heartbeat{DeviceId: "dev-1", Class: "edge", Seq: seq, InstalledVariant: "base"})
			_ = nc.Publish(fpv1.HeartbeatSubject("dev-1"), b)
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	overview := func() *view.Overview {
		code, b := call(t, srv, "GET", "/api/v1/overview", "")
		if code != 200 {
			t.Fatalf("overview: %d %s", code, b)
		}
		o := decode[view.Overview](t, b)
		return &o
	}
	presence := func(o *view.Overview) string {
		for _, d := range o.Devices {
			if d.ID == "dev-1" {
				return d.Presence
			}
		}
		return "absent"
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		o := overview()
		if len(o.Classes) != 1 || o.Classes[0].Devices != 1 || presence(o) != view.PresenceLive {
			return fmt.Errorf("want edge with dev-1 live, got classes %+v, dev-1 %s", o.Classes, presence(o))
		}
		return nil
	})
	// Keep it live past two StaleAfter periods: renewals must keep it live.
	time.Sleep(2 * cfg.StaleAfter)
	if p := presence(overview()); p != view.PresenceLive {
		t.Fatalf("dev-1 sending heartbeats shows %s", p)
	}
	stopHB()
	<-hbDone
	testutil.CheckFor(t, 10*time.Second, func() error {
		if p := presence(overview()); p != view.PresenceStale {
			return fmt.Errorf("dev-1 silent: %s", p)
		}
		return nil
	})

	// The coordinator's endpoints answer through the same handler, beside the
	// dashboard's.
	for path, want := range map[string]string{
		"/api/v1/classes": `"edge"`, "/api/v1/devices/dev-1": `"dev-1"`, "/api/v1/leader": `"leading": true`,
		"/healthz": `"ok"`, "/api/openapi.json": `"openapi"`, "/": "<title>fleetprune</title>",
		"/api/v1/classes/edge/tuning": `"points"`,
	} {
		code, b := call(t, srv, "GET", path, "")
		if code != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, no %q in %.200s", path, code, want, b)
		}
	}
}
