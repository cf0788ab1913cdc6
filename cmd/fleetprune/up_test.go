package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/internal/testutil"
)

// startUp runs `up` on dir with free ports and returns an API client and a stop
// function that waits for a clean shutdown.
func startUp(t *testing.T, dir string, agents int) (*coordinator.Client, []byte, func()) {
	t.Helper()
	s := &settings{
		DataDir: dir, LogLevel: "info", LocalAgents: agents,
		Embedded: embeddedSettings{EtcdClientURL: "http://127.0.0.1:0", EtcdPeerURL: "http://127.0.0.1:0", NATSHost: "127.0.0.1", NATSPort: -1},
		Coordinator: coordinator.Config{
			Name: "up-test", HTTPAddr: "127.0.0.1:0", KeyFile: filepath.Join(dir, "coordinator.key"),
			LeaseTTL: time.Second, HeartbeatInterval: 200 * time.Millisecond,
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *upStack, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- runUp(ctx, s, log, func(u *upStack) { ready <- u }) }()
	var u *upStack
	select {
	case u = <-ready:
	case err := <-done:
		t.Fatalf("up: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("up did not start within 60s")
	}
	testutil.WaitFor(t, 15*time.Second, func() bool { return u.Coordinator.IsLeader() })
	cl, err := coordinator.NewClient("http://" + u.APIAddr)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("up stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("up did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	return cl, u.Coordinator.PublicKey(), stop
}

// TestUpRestartKeepsState runs `up` with a local agent, applies a fleet, stops it
// and starts it again on the same directory: classes, devices, models and the
// signing key are all still there.
func TestUpRestartKeepsState(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded stack twice; skipped with -short")
	}
	dir := t.TempDir()
	ctx := context.Background()
	cl, key1, stop := startUp(t, dir, 1)

	onnx, err := os.ReadFile(filepath.Join("..", "..", "pruning", "testdata", "resnet_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var art *coordinator.ArtifactResult
	testutil.CheckFor(t, 15*time.Second, func() error {
		art, err = cl.UploadArtifact(ctx, onnx)
		return err
	})
	doc := fmt.Sprintf(`models:
  - name: resnet-tiny
    digest: %s
    dataset: mnist
    inputShape: [1, 28, 28]
classes:
  - name: everyone
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 10ms, maxAccuracyDrop: 1}
`, art.SHA256)
	if _, err := cl.Apply(ctx, []byte(doc)); err != nil {
		t.Fatalf("apply: %v", err)
	}
	testutil.CheckFor(t, 20*time.Second, func() error {
		d, err := cl.Device(ctx, "local-1")
		if err != nil {
			return err
		}
		if d.Class != "everyone" {
			return fmt.Errorf("local-1 in class %q, want everyone", d.Class)
		}
		return nil
	})
	stop()

	cl, key2, _ := startUp(t, dir, 0)
	if !bytes.Equal(key1, key2) {
		t.Error("signing key changed across the restart")
	}
	classes, err := cl.Classes(ctx)
	if err != nil || len(classes) != 1 || classes[0].Name != "everyone" || classes[0].Devices != 1 {
		t.Errorf("classes after restart: %+v, %v; want [everyone] with 1 device", classes, err)
	}
	models, err := cl.Models(ctx)
	if err != nil || len(models) != 1 || models[0].Digest != art.SHA256 {
		t.Errorf("models after restart: %+v, %v; want resnet-tiny %s", models, err, art.SHA256)
	}
	d, err := cl.Device(ctx, "local-1")
	if err != nil || d.Class != "everyone" || d.Profile.Cores < 1 {
		t.Errorf("device local-1 after restart: %+v, %v", d, err)
	}
}
