package coordinator

import (
	"bytes"
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func TestRegistrationPlacementAndPresence(t *testing.T) {
	f := newFixture(t)
	cfg := testConfig("solo")
	cfg.StaleAfter = 400 * time.Millisecond
	r := f.start(t, cfg)
	api := r.ready(t)
	ctx := context.Background()

	art, err := api.UploadArtifact(ctx, testONNX(t))
	if err != nil {
		t.Fatalf("upload artifact: %v", err)
	}
	classes := `  - name: big
    selector: "cores>=4"
    priority: 10
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
  - name: small
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 20ms, maxAccuracyDrop: 2}
`
	if _, err := api.Apply(ctx, fleetDoc(art.SHA256, classes)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	nc := testutil.NATSConn(t, f.natsURL)
	testutil.WaitFor(t, 5*time.Second, func() bool { return len(r.c.classes.get()) == 2 })

	tests := []struct {
		device string
		cores  int32
		want   string
	}{
		{"dev-big", 8, "big"},
		{"dev-small", 2, "small"},
	}
	for _, tt := range tests {
		t.Run(tt.device, func(t *testing.T) {
			rep := register(t, nc, &fpv1.RegisterRequest{
				DeviceId: tt.device, AgentVersion: "test",
				Profile: &fpv1.HardwareProfile{Arch: "amd64", Cores: tt.cores, MemoryBytes: 1 << 30, Os: "linux"},
			})
			if !rep.GetAccepted() {
				t.Fatalf("not accepted: %s", rep.GetReason())
			}
			if rep.GetClass() != tt.want {
				t.Errorf("class: got %q, want %q", rep.GetClass(), tt.want)
			}
			if !bytes.Equal(rep.GetCoordinatorPublicKey(), r.c.PublicKey()) {
				t.Errorf("public key in reply differs from the coordinator's")
			}
			if got, want := rep.GetHeartbeatIntervalMs(), cfg.HeartbeatInterval.Milliseconds(); got != want {
				t.Errorf("heartbeat interval: got %dms, want %dms", got, want)
			}
			d, err := api.Device(ctx, tt.device)
			if err != nil {
				t.Fatalf("describe: %v", err)
			}
			if d.Class != tt.want || d.Profile.Cores != int(tt.cores) || d.Presence != PresenceLive {
				t.Errorf("stored device: class %q cores %d presence %s; want %q, %d, live", d.Class, d.Profile.Cores, d.Presence, tt.want, tt.cores)
			}
		})
	}

	// Classes change: "big" now needs 16 cores, so dev-big moves to "small", and its
	// next heartbeat (sent as a request) is answered with the new class.
	classes2 := `  - name: big
    selector: "cores>=16"
    priority: 10
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
  - name: small
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 20ms, maxAccuracyDrop: 2}
`
	if _, err := api.Apply(ctx, fleetDoc(art.SHA256, classes2)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	testutil.CheckFor(t, 5*time.Second, func() error {
		d, err := api.Device(ctx, "dev-big")
		if err != nil {
			return err
		}
		if d.Class != "small" {
			return errorf("dev-big class %q, want small", d.Class)
		}
		return nil
	})
	hb, _ := proto.Marshal(&fpv1.Heartbeat{DeviceId: "dev-big", Class: "big", Seq: 1})
	if rep := requestReply(t, nc, fpv1.HeartbeatSubject("dev-big"), hb); rep.GetClass() != "small" || !rep.GetAccepted() {
		t.Errorf("heartbeat reply: class %q accepted %v, want small, true", rep.GetClass(), rep.GetAccepted())
	}

	// Presence: dev-small keeps beating, dev-big goes silent and turns stale.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			b, _ := proto.Marshal(&fpv1.Heartbeat{DeviceId: "dev-small", Class: "small", Seq: seq})
			_ = nc.Publish(fpv1.HeartbeatSubject("dev-small"), b)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-done }()
	testutil.CheckFor(t, 15*time.Second, func() error {
		ds, err := api.Devices(ctx)
		if err != nil {
			return err
		}
		got := map[string]string{}
		for _, d := range ds {
			got[d.ID] = d.Presence
		}
		if got["dev-big"] != PresenceStale || got["dev-small"] != PresenceLive {
			return errorf("presence %v, want dev-big stale and dev-small live", got)
		}
		return nil
	})
	cls, err := api.Classes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cls {
		if c.Name == "small" && (c.Devices != 2 || c.LiveDevices != 1 || c.StaleDevices != 1) {
			t.Errorf("class small: %d devices, %d live, %d stale; want 2, 1, 1", c.Devices, c.LiveDevices, c.StaleDevices)
		}
	}
}
