package coordinator

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/internal/embedded"
	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// fixture is one embedded etcd and NATS server pair shared by the coordinators of a
// test.
type fixture struct {
	etcd    *embedded.Etcd
	natsURL string
	key     ed25519.PrivateKey
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{etcd: testutil.EtcdServer(t), natsURL: testutil.NATSServer(t).ClientURL(), key: key}
}

// running is a coordinator started by a test with its own etcd client and NATS
// connection, so a test can cut them to play a crash.
type running struct {
	c    *Coordinator
	cli  *clientv3.Client
	nc   *nats.Conn
	stop context.CancelFunc
	done chan error
}

func testConfig(name string) Config {
	return Config{
		Name:              name,
		HTTPAddr:          "127.0.0.1:0",
		LeaseTTL:          time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		PresenceFlush:     50 * time.Millisecond,
		ReportAckWait:     time.Second,
	}
}

func (f *fixture) start(t *testing.T, cfg Config, opts ...Option) *running {
	t.Helper()
	cli, err := f.etcd.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(f.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := New(cli, nc, f.key, append([]Option{WithConfig(cfg), WithLogger(logger)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cli: cli, nc: nc, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(func() {
		r.stop()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Errorf("coordinator %s did not stop within 15s", cfg.Name)
		}
		nc.Close()
		cli.Close()
	})
	return r
}

// crash cuts the coordinator off from etcd and NATS without resigning, like a killed
// process: its lease is left to expire.
func (r *running) crash() {
	r.nc.Close()
	r.cli.Close()
	r.stop()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func waitLeader(t *testing.T, within time.Duration, rs ...*running) *running {
	t.Helper()
	var got *running
	testutil.WaitFor(t, within, func() bool {
		for _, r := range rs {
			if r.c.IsLeader() {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

func publishReport(t *testing.T, js jetstream.JetStream, r *fpv1.Report) {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, fpv1.ReportSubject(r.GetClass(), r.GetDeviceId()), b); err != nil {
		t.Fatalf("publish report: %v", err)
	}
}

func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// ready waits until r leads with JetStream set up and its API listening, and returns
// an API client of it.
func (r *running) ready(t *testing.T) *Client {
	t.Helper()
	testutil.WaitFor(t, 15*time.Second, func() bool { return r.c.serving.Load() && r.c.APIAddr() != "" })
	js, err := jetstream.New(r.nc)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 15*time.Second, func() bool {
		_, err := js.ObjectStore(context.Background(), fpv1.BucketModels)
		return err == nil
	})
	cl, err := NewClient("http://" + r.c.APIAddr())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// testONNX is a real ONNX model from the repository's fixtures.
func testONNX(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "pruning", "testdata", "resnet_op13.onnx"))
	if err != nil {
		t.Fatalf("read ONNX fixture: %v", err)
	}
	return b
}

// fleetDoc is a fleet document with one model (by digest) and the given classes
// block.
func fleetDoc(digest, classes string) []byte {
	return []byte(fmt.Sprintf(`apiVersion: fleetprune.dev/v1
kind: Fleet
models:
  - name: resnet-tiny
    digest: %s
    dataset: mnist
    inputShape: [1, 28, 28]
classes:
%s`, digest, classes))
}

func register(t *testing.T, nc *nats.Conn, req *fpv1.RegisterRequest) *fpv1.RegisterReply {
	t.Helper()
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return requestReply(t, nc, fpv1.SubjectRegister, b)
}

func requestReply(t *testing.T, nc *nats.Conn, subject string, b []byte) *fpv1.RegisterReply {
	t.Helper()
	msg, err := nc.Request(subject, b, 5*time.Second)
	if err != nil {
		t.Fatalf("request on %s: %v", subject, err)
	}
	rep := &fpv1.RegisterReply{}
	if err := proto.Unmarshal(msg.Data, rep); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	return rep
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func protojsonUnmarshal(b []byte, m proto.Message) error { return protojson.Unmarshal(b, m) }
