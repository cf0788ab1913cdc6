package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
)

const testClass = "edge"

// fleet is a real embedded NATS server with the streams and bucket the coordinator
// would create, and a tiny registration responder standing in for the coordinator.
type fleet struct {
	t    testing.TB
	url  string
	nc   *nats.Conn
	js   jetstream.JetStream
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey

	mu       sync.Mutex
	requests []*fpv1.RegisterRequest
	class    string
}

func newFleet(t testing.TB) *fleet {
	t.Helper()
	_, url := testutil.NATS(t)
	return newFleetOn(t, url)
}

// ensureJetStream creates the command and report streams and the model bucket; it
// is idempotent.
func (f *fleet) ensureJetStream() {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, sc := range []jetstream.StreamConfig{
		{Name: fpv1.StreamCommands, Subjects: []string{fpv1.SubjectCommandsAll}, Storage: jetstream.FileStorage},
		{Name: fpv1.StreamReports, Subjects: []string{fpv1.SubjectReportsAll}, Storage: jetstream.FileStorage, Duplicates: time.Minute},
	} {
		if _, err := f.js.CreateOrUpdateStream(ctx, sc); err != nil {
			f.t.Fatalf("stream %s: %v", sc.Name, err)
		}
	}
	if _, err := f.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: fpv1.BucketModels}); err != nil {
		f.t.Fatalf("bucket: %v", err)
	}
}

func (f *fleet) answer(msg *nats.Msg) {
	var req fpv1.RegisterRequest
	reply := &fpv1.RegisterReply{}
	if err := proto.Unmarshal(msg.Data, &req); err != nil {
		reply.Reason = err.Error()
	} else {
		f.mu.Lock()
		f.requests = append(f.requests, &req)
		reply.Accepted, reply.Class = true, f.class
		f.mu.Unlock()
		reply.CoordinatorPublicKey = f.pub
		reply.HeartbeatIntervalMs = 200
	}
	b, _ := proto.Marshal(reply)
	_ = msg.Respond(b)
}

func (f *fleet) registrations() []*fpv1.RegisterRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fpv1.RegisterRequest(nil), f.requests...)
}

// startAgent runs an agent on its own connection until the test ends or the
// returned stop is called.
func (f *fleet) startAgent(id, dataDir string, opts ...Option) (a *Agent, stop func()) {
	f.t.Helper()
	return f.startAgentWith(id, dataDir, nil, opts...)
}

// startAgentWith is startAgent with options for the agent's NATS connection.
func (f *fleet) startAgentWith(id, dataDir string, natsOpts []nats.Option, opts ...Option) (a *Agent, stop func()) {
	f.t.Helper()
	nc := testutil.NATSConn(f.t, f.url, natsOpts...)
	base := []Option{
		WithDeviceID(id), WithDataDir(dataDir), WithLogger(testLogger(f.t)),
		WithRetryBackoff(20*time.Millisecond, 200*time.Millisecond), WithBenchmarkRuns(1, 5),
	}
	a, err := New(nc, append(base, opts...)...)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				f.t.Errorf("Run: %v", err)
			}
			nc.Close()
		})
	}
	f.t.Cleanup(stop)
	return a, stop
}

// waitRegistered waits until the agent has its class and its consumer exists.
func (f *fleet) waitRegistered(a *Agent) {
	f.t.Helper()
	testutil.CheckFor(f.t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := f.js.Consumer(ctx, fpv1.StreamCommands, ConsumerName(a.ID()))
		return err
	})
}

// publishVariant stores onnxBytes in the bucket under object and returns a manifest
// for want (the digest the manifest states) signed with priv.
func (f *fleet) publishVariant(priv ed25519.PrivateKey, id, object string, stored, want []byte) *fpv1.SignedManifest {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	obs, err := f.js.ObjectStore(ctx, fpv1.BucketModels)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, object, stored); err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	sm, err := fpv1.SignManifest(priv, &fpv1.VariantManifest{
		VariantId: id, Class: f.class, Model: "lenet-5", Sha256: hex.EncodeToString(sum[:]),
		SizeBytes: uint64(len(want)), ObjectName: object, InputShape: []int64{1, 28, 28}, ProbeSeed: 11,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return sm
}

// goodVariant publishes onnxBytes under its digest with a valid signature.
func (f *fleet) goodVariant(id string, onnxBytes []byte) *fpv1.SignedManifest {
	sum := sha256.Sum256(onnxBytes)
	return f.publishVariant(f.priv, id, hex.EncodeToString(sum[:]), onnxBytes, onnxBytes)
}

func (f *fleet) send(device string, cmd *fpv1.Command) {
	f.t.Helper()
	b, err := proto.Marshal(cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	f.sendRaw(fpv1.CommandSubject(cmd.GetClass(), device), b)
}

func (f *fleet) sendRaw(subject string, b []byte) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := f.js.Publish(ctx, subject, b); err != nil {
		f.t.Fatalf("publish %s: %v", subject, err)
	}
}

// reports reads the device's reports from the report stream in order.
type reports struct {
	t    testing.TB
	cons jetstream.Consumer
}

func (f *fleet) reports(device string) *reports {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := f.js.OrderedConsumer(ctx, fpv1.StreamReports, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{fpv1.ReportSubject(f.class, device)},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return &reports{t: f.t, cons: cons}
}

// next returns the next report, failing the test after timeout.
func (r *reports) next(timeout time.Duration) *fpv1.Report {
	r.t.Helper()
	msg, err := r.cons.Next(jetstream.FetchMaxWait(timeout))
	if err != nil {
		r.t.Fatalf("no report within %s: %v", timeout, err)
	}
	rep := &fpv1.Report{}
	if err := proto.Unmarshal(msg.Data(), rep); err != nil {
		r.t.Fatalf("report does not decode: %v", err)
	}
	return rep
}

// none fails the test if a report arrives within d.
func (r *reports) none(d time.Duration) {
	r.t.Helper()
	if msg, err := r.cons.Next(jetstream.FetchMaxWait(d)); err == nil {
		rep := &fpv1.Report{}
		_ = proto.Unmarshal(msg.Data(), rep)
		r.t.Fatalf("unexpected report: %v", rep)
	}
}

var (
	lenetOnce  sync.Once
	lenetBytes [2][]byte
)

// lenet returns ONNX bytes of two LeNet-5 models with different weights.
func lenet(t testing.TB, i int) []byte {
	t.Helper()
	lenetOnce.Do(func() {
		for k := range lenetBytes {
			b, err := onnx.Marshal(models.LeNet5(uint64(k + 1)))
			if err != nil {
				t.Fatal(err)
			}
			lenetBytes[k] = b
		}
	})
	return bytes.Clone(lenetBytes[i])
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func benchCmd(id string, sm *fpv1.SignedManifest) *fpv1.Command {
	return &fpv1.Command{Id: id, Class: testClass, Kind: &fpv1.Command_Benchmark{Benchmark: &fpv1.BenchmarkCommand{
		Manifest: sm, WarmupRuns: 1, TimedRuns: 5, Purpose: "probe",
	}}}
}

func installCmd(id string, sm *fpv1.SignedManifest) *fpv1.Command {
	return &fpv1.Command{Id: id, Class: testClass, Kind: &fpv1.Command_Install{Install: &fpv1.InstallCommand{
		Manifest: sm, WarmupRuns: 1, TimedRuns: 5,
	}}}
}

func rollbackCmd(id, to string) *fpv1.Command {
	return &fpv1.Command{Id: id, Class: testClass, Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{
		ToVariant: to, Reason: "test",
	}}}
}

// newFleetOn adds the streams and a registration responder to a running server.
func newFleetOn(t testing.TB, url string) *fleet {
	t.Helper()
	nc := testutil.NATSConn(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(nil)
	f := &fleet{t: t, url: url, nc: nc, js: js, pub: pub, priv: priv, class: testClass}
	f.ensureJetStream()
	sub, err := nc.Subscribe(fpv1.SubjectRegister, f.answer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return f
}

func (f *fleet) deleteObject(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	obs, err := f.js.ObjectStore(ctx, fpv1.BucketModels)
	if err != nil {
		return err
	}
	return obs.Delete(ctx, name)
}

func marshal(m proto.Message) ([]byte, error)   { return proto.Marshal(m) }
func unmarshal(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }
func errorf(format string, args ...any) error   { return fmt.Errorf(format, args...) }
