package coordinator

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGarbageOnEverySubject sends malformed, oversized and out-of-place messages on
// the register, heartbeat and report subjects: each is refused with a reason,
// nothing is stored, and the coordinator keeps working.
func TestGarbageOnEverySubject(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, testConfig("solo"))
	r.ready(t)
	admin := testutil.EtcdClient(t, f.etcd)
	nc := testutil.NATSConn(t, f.natsURL)
	oversized := bytes.Repeat([]byte{0x0a}, DefaultMaxMessageBytes+1)
	goodProfile := &fpv1.HardwareProfile{Arch: "amd64", Cores: 2, MemoryBytes: 1 << 30}

	registers := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte("\xff\xfe not a protobuf \x00\x01")},
		{"empty", nil},
		{"oversized", oversized},
		{"bad device id", mustMarshal(t, &fpv1.RegisterRequest{DeviceId: "Bad/ID.>", Profile: goodProfile})},
		{"no profile", mustMarshal(t, &fpv1.RegisterRequest{DeviceId: "dev-1"})},
		{"impossible profile", mustMarshal(t, &fpv1.RegisterRequest{DeviceId: "dev-1", Profile: &fpv1.HardwareProfile{Arch: "amd64", Cores: -3}})},
		{"long version", mustMarshal(t, &fpv1.RegisterRequest{DeviceId: "dev-1", Profile: goodProfile, AgentVersion: strings.Repeat("v", 1000)})},
	}
	for _, tt := range registers {
		t.Run("register/"+tt.name, func(t *testing.T) {
			rep := requestReply(t, nc, fpv1.SubjectRegister, tt.data)
			if rep.GetAccepted() || rep.GetReason() == "" {
				t.Errorf("got accepted=%v reason=%q, want a refusal with a reason", rep.GetAccepted(), rep.GetReason())
			}
		})
	}
	heartbeats := []struct {
		name, subject string
		data          []byte
	}{
		{"garbage", fpv1.HeartbeatSubject("dev-1"), []byte("\xff\xff\xff")},
		{"oversized", fpv1.HeartbeatSubject("dev-1"), oversized},
		{"other device's subject", fpv1.HeartbeatSubject("dev-2"), mustMarshal(t, &fpv1.Heartbeat{DeviceId: "dev-1"})},
		{"unknown device", fpv1.HeartbeatSubject("dev-9"), mustMarshal(t, &fpv1.Heartbeat{DeviceId: "dev-9"})},
	}
	for _, tt := range heartbeats {
		t.Run("heartbeat/"+tt.name, func(t *testing.T) {
			rep := requestReply(t, nc, tt.subject, tt.data)
			if rep.GetAccepted() || rep.GetReason() == "" {
				t.Errorf("got accepted=%v reason=%q, want a refusal with a reason", rep.GetAccepted(), rep.GetReason())
			}
		})
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	reports := []struct {
		name, subject string
		data          []byte
	}{
		{"garbage", fpv1.ReportSubject("edge", "dev-1"), []byte("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")},
		{"empty", fpv1.ReportSubject("edge", "dev-1"), []byte{}},
		{"other device's subject", fpv1.ReportSubject("edge", "dev-2"), mustMarshal(t, &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "periodic", Seq: 1})},
		{"unknown kind", fpv1.ReportSubject("edge", "dev-1"), mustMarshal(t, &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "bogus", Seq: 1})},
		{"negative latency", fpv1.ReportSubject("edge", "dev-1"), mustMarshal(t, &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "benchmark", P95Ns: -5, Seq: 2})},
		{"unregistered device", fpv1.ReportSubject("edge", "dev-1"), mustMarshal(t, &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "periodic", Seq: 3})},
		{"too many tokens", "fleet.v1.report.edge.dev-1.extra", mustMarshal(t, &fpv1.Report{DeviceId: "dev-1", Class: "edge", Kind: "periodic", Seq: 4})},
	}
	for _, tt := range reports {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := js.Publish(ctx, tt.subject, tt.data); err != nil {
			t.Fatalf("report %s: publish: %v", tt.name, err)
		}
		cancel()
	}
	// An oversized report is refused by the stream itself.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, fpv1.ReportSubject("edge", "dev-1"), oversized); err == nil {
		t.Errorf("oversized report: the stream accepted %d bytes", len(oversized))
	}
	testutil.CheckFor(t, 10*time.Second, func() error {
		if got := counterValue(r.c.metrics.reports.WithLabelValues("rejected")); got != float64(len(reports)) {
			return errorf("rejected reports: got %v, want %d", got, len(reports))
		}
		return nil
	})
	// Nothing of it was stored, and the coordinator still leads and registers.
	time.Sleep(2 * r.c.cfg.PresenceFlush)
	for _, prefix := range []string{profiles.DevicePrefix, presencePrefix, reportsPrefix, lastReportPrefix} {
		if n := countKeys(t, admin, prefix); n != 0 {
			t.Errorf("%s: %d keys stored, want 0", prefix, n)
		}
	}
	if !r.c.IsLeader() {
		t.Fatal("coordinator lost leadership after bad input")
	}
	if rep := register(t, nc, &fpv1.RegisterRequest{DeviceId: "dev-1", Profile: goodProfile}); !rep.GetAccepted() {
		t.Errorf("valid registration after bad input refused: %s", rep.GetReason())
	}
}

// TestApplyInvalidStoresNothing sends invalid fleet documents: each answer is a 400
// that lists the fields at fault, and no class or model is stored.
func TestApplyInvalidStoresNothing(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, testConfig("solo"))
	api := r.ready(t)
	admin := testutil.EtcdClient(t, f.etcd)
	ctx := context.Background()
	art, err := api.UploadArtifact(ctx, testONNX(t))
	if err != nil {
		t.Fatal(err)
	}
	const okClass = `  - name: ok
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
`
	tests := []struct {
		name       string
		doc        []byte
		wantFields []string
	}{
		{"malformed yaml", []byte("classes: [\n  - name: x\n    : : :"), []string{""}},
		{"unknown field", fleetDoc(art.SHA256, okClass+"    colour: blue\n"), []string{"classes[0].colour"}},
		{"impossible slo", fleetDoc(art.SHA256, `  - name: neg
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: -5ms, maxAccuracyDrop: 120}
`), []string{"classes[0].slo.p95Latency", "classes[0].slo.maxAccuracyDrop"}},
		{"selector syntax", fleetDoc(art.SHA256, `  - name: sel
    selector: "cores>>=4,"
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
`), []string{"classes[0].selector"}},
		{"artifact not uploaded", fleetDoc(strings.Repeat("ab", 32), okClass), []string{"models[0].digest"}},
		{"second class bad", fleetDoc(art.SHA256, okClass+`  - name: Bad_Name
    selector: ""
    baseModel: resnet-tiny
    slo: {p95Latency: 5ms, maxAccuracyDrop: 1}
`), []string{"classes[1].name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.Apply(ctx, tt.doc)
			var re *ResponseError
			if !errors.As(err, &re) || re.Status != http.StatusBadRequest {
				t.Fatalf("got %v, want a 400 answer", err)
			}
			got := map[string]bool{}
			for _, fe := range re.Errors {
				got[fe.Field] = true
			}
			for _, want := range tt.wantFields {
				if !got[want] {
					t.Errorf("fields at fault: got %v, want %q among them (answer: %v)", got, want, re)
				}
			}
		})
	}
	for _, prefix := range []string{profiles.ClassPrefix, profiles.ModelPrefix} {
		if n := countKeys(t, admin, prefix); n != 0 {
			t.Errorf("%s: %d keys stored after invalid documents, want 0", prefix, n)
		}
	}
}
