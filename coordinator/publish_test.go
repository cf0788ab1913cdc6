package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// TestPublishAndInstallOnRealAgent publishes a variant and sends an install command
// to a real agent: the object is stored under its digest, the manifest verifies with
// the coordinator's key, etcd holds the digest (not the bytes), and the agent's
// install report is applied to the device.
func TestPublishAndInstallOnRealAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an agent that benchmarks a model")
	}
	f := newFixture(t)
	r := f.start(t, testConfig("solo"))
	api := r.ready(t)
	ctx := context.Background()
	onnx := testONNX(t)
	art, err := api.UploadArtifact(ctx, onnx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.Apply(ctx, fleetDoc(art.SHA256, `  - name: edge
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 50ms, maxAccuracyDrop: 1}
`)); err != nil {
		t.Fatal(err)
	}

	anc := testutil.NATSConn(t, f.natsURL)
	a, err := agent.New(anc, agent.WithDeviceID("e2e-1"), agent.WithDataDir(filepath.Join(t.TempDir(), "agent")),
		agent.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), agent.WithBenchmarkRuns(1, 5))
	if err != nil {
		t.Fatal(err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(actx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, 15*time.Second, func() bool { return a.Class() == "edge" })

	if _, err := r.c.Publish(ctx, "edge", "v0", onnx, VariantMeta{InputShape: []int64{1, 28, 28}}); err == nil {
		t.Error("published a variant whose manifest input shape differs from its model's")
	}
	if _, err := r.c.Publish(ctx, "edge", "v0", []byte("not a model"), VariantMeta{}); err == nil {
		t.Error("published bytes that are not a model")
	}
	signed, err := r.c.Publish(ctx, "edge", "v1", onnx, VariantMeta{Model: "resnet-tiny", InputShape: []int64{1, 16, 16}, ProbeSeed: 7})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	m, err := fpv1.VerifyManifest(r.c.PublicKey(), signed)
	if err != nil {
		t.Fatalf("manifest does not verify with the coordinator's key: %v", err)
	}
	sum := sha256.Sum256(onnx)
	if m.GetSha256() != hex.EncodeToString(sum[:]) || m.GetObjectName() != m.GetSha256() || m.GetSizeBytes() != uint64(len(onnx)) {
		t.Errorf("manifest: sha256 %s object %s size %d; want the artifact's digest and size %d", m.GetSha256(), m.GetObjectName(), m.GetSizeBytes(), len(onnx))
	}
	admin := testutil.EtcdClient(t, f.etcd)
	resp, err := admin.Get(ctx, profiles.VariantKey("edge", "v1"))
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("variant record: %v, %d keys", err, len(resp.Kvs))
	}
	var rec Variant
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil || rec.SHA256 != m.GetSha256() {
		t.Errorf("variant record %s: %v; want digest %s", resp.Kvs[0].Value, err, m.GetSha256())
	}
	if len(resp.Kvs[0].Value) > len(onnx)/2 {
		t.Errorf("variant record is %d bytes for a %d-byte model: bytes must not go into etcd", len(resp.Kvs[0].Value), len(onnx))
	}

	cmd, err := r.c.SendCommand(ctx, "edge", "e2e-1", &fpv1.Command{Kind: &fpv1.Command_Install{Install: &fpv1.InstallCommand{
		Manifest: signed, WarmupRuns: 1, TimedRuns: 5,
	}}})
	if err != nil {
		t.Fatalf("send command: %v", err)
	}
	testutil.CheckFor(t, 60*time.Second, func() error {
		d, err := api.Device(ctx, "e2e-1")
		if err != nil {
			return err
		}
		var last fpv1.Report
		if len(d.LastReport) == 0 {
			return errorf("no report applied yet")
		}
		if err := protojsonUnmarshal(d.LastReport, &last); err != nil {
			return err
		}
		if last.GetCommandId() != cmd.GetId() || last.GetKind() != "install" || !last.GetOk() {
			return errorf("last report: command %s kind %s ok %v error %q; want install of %s ok", last.GetCommandId(), last.GetKind(), last.GetOk(), last.GetError(), cmd.GetId())
		}
		if last.GetP95Ns() <= 0 || last.GetInstalledVariant() != "v1" {
			return errorf("install report without a measured p95 (%d) or variant (%q)", last.GetP95Ns(), last.GetInstalledVariant())
		}
		return nil
	})
	vs, err := api.Variants(ctx, "edge")
	if err != nil || len(vs) != 1 || vs[0].ID != "v1" {
		t.Errorf("variants of edge: %+v, %v", vs, err)
	}
}

// TestLeaderOnlyWrites checks that a standby refuses Publish, SendCommand and apply.
func TestLeaderOnlyWrites(t *testing.T) {
	f := newFixture(t)
	a := f.start(t, testConfig("a"))
	a.ready(t)
	b := f.start(t, testConfig("b"))
	testutil.WaitFor(t, 10*time.Second, func() bool { return b.c.APIAddr() != "" })
	ctx := context.Background()
	if _, err := b.c.Publish(ctx, "edge", "v1", testONNX(t), VariantMeta{}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("standby publish: got %v, want ErrNotLeader", err)
	}
	if _, err := b.c.SendCommand(ctx, "edge", "all", &fpv1.Command{Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{}}}); !errors.Is(err, ErrNotLeader) {
		t.Errorf("standby send: got %v, want ErrNotLeader", err)
	}
	cl, err := NewClient("http://" + b.c.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Apply(ctx, fleetDoc("ab", `  - name: x
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
`))
	var re *ResponseError
	if !errors.As(err, &re) || re.Status != 400 && re.Status != 503 {
		t.Errorf("standby apply: got %v, want 400 (bad digest) or 503", err)
	}
	// The leader sends a class-wide command onto the class's .all subject.
	cmd, err := a.c.SendCommand(ctx, "edge", "all", &fpv1.Command{Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{ToVariant: "v0"}}})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(a.nc)
	stream, err := js.Stream(ctx, fpv1.StreamCommands)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, fpv1.ClassCommandSubject("edge"))
	if err != nil {
		t.Fatalf("command not in %s: %v", fpv1.StreamCommands, err)
	}
	var got fpv1.Command
	if err := proto.Unmarshal(msg.Data, &got); err != nil || got.GetId() != cmd.GetId() || got.GetDeviceId() != "" {
		t.Errorf("stored command %v (%v), want id %s for the whole class", &got, err, cmd.GetId())
	}
}
