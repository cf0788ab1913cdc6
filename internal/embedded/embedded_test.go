package embedded_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/embedded"
	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEtcdRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv := testutil.EtcdServerIn(t, dir)
	cli := testutil.EtcdClient(t, srv)
	if _, err := cli.Put(ctx, "/fleetprune/v1/classes/small", `{"name":"small"}`); err != nil {
		t.Fatalf("put: %v", err)
	}
	firstEndpoint := srv.Endpoints()[0]
	_ = cli.Close()
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := cli.Get(ctx, "/fleetprune/v1/classes/small"); err == nil {
		t.Fatalf("get on a closed server succeeded")
	}

	srv2 := testutil.EtcdServerIn(t, dir)
	cli2 := testutil.EtcdClient(t, srv2)
	resp, err := cli2.Get(ctx, "/fleetprune/v1/classes/small")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != `{"name":"small"}` {
		t.Fatalf("after restart got %v, want the value written before (first endpoint %s, now %s)", resp.Kvs, firstEndpoint, srv2.Endpoints()[0])
	}
}

func TestEtcdGivenClientURL(t *testing.T) {
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	srv := testutil.EtcdServer(t, embedded.WithEtcdClientURL(url))
	if got := srv.Endpoints(); len(got) != 1 || got[0] != url {
		t.Fatalf("endpoints = %v, want [%s]", got, url)
	}
	cli := testutil.EtcdClient(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put: %v", err)
	}
}

func TestEtcdRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	if _, err := embedded.StartEtcd(ctx, ""); err == nil {
		t.Errorf("empty dir: got nil error")
	}
	_, err := embedded.StartEtcd(ctx, t.TempDir(), embedded.WithEtcdClientURL("http://[::1"))
	if err == nil || !strings.Contains(err.Error(), "client url") {
		t.Errorf("bad client url: got %v, want an error naming the client url", err)
	}
	_, err = embedded.StartEtcd(ctx, t.TempDir(), embedded.WithEtcdLogLevel("loud"))
	if err == nil || !strings.Contains(err.Error(), "log level") {
		t.Errorf("bad log level: got %v, want an error naming the log level", err)
	}
}

func TestNATSRestartKeepsJetStreamState(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv := testutil.NATSServerIn(t, dir)
	nc := testutil.NATSConn(t, srv.ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "REPORTS", Subjects: []string{"fleet.v1.report.>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	if _, err := js.Publish(ctx, "fleet.v1.report.small.dev-1", []byte("report-1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "presence"})
	if err != nil {
		t.Fatalf("create kv: %v", err)
	}
	if _, err := kv.Put(ctx, "dev-1", []byte("here")); err != nil {
		t.Fatalf("kv put: %v", err)
	}
	nc.Close()
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}

	srv2 := testutil.NATSServerIn(t, dir)
	nc2 := testutil.NATSConn(t, srv2.ClientURL())
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	stream, err := js2.Stream(ctx, "REPORTS")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	msg, err := stream.GetLastMsgForSubject(ctx, "fleet.v1.report.small.dev-1")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if string(msg.Data) != "report-1" {
		t.Fatalf("message after restart = %q, want %q", msg.Data, "report-1")
	}
	kv2, err := js2.KeyValue(ctx, "presence")
	if err != nil {
		t.Fatalf("kv after restart: %v", err)
	}
	e, err := kv2.Get(ctx, "dev-1")
	if err != nil || string(e.Value()) != "here" {
		t.Fatalf("kv entry after restart = %v, %v; want %q", e, err, "here")
	}
}

func TestEmptyOptionsKeepDefaults(t *testing.T) {
	srv := testutil.EtcdServer(t, embedded.WithEtcdClientURL(""), embedded.WithEtcdPeerURL(""), embedded.WithEtcdLogLevel(""))
	if got := srv.Endpoints(); len(got) != 1 || !strings.HasPrefix(got[0], "http://127.0.0.1:") || strings.HasSuffix(got[0], ":0") {
		t.Errorf("endpoints = %v, want 127.0.0.1 with a real port", got)
	}
	ns := testutil.NATSServer(t, embedded.WithNATSHost(""), embedded.WithNATSPort(0))
	if u := ns.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":4222") {
		t.Errorf("client url = %s, want 127.0.0.1 with a free port", u)
	}
}

func TestNATSGivenPort(t *testing.T) {
	port := freePort(t)
	srv := testutil.NATSServer(t, embedded.WithNATSPort(port))
	if want := "nats://127.0.0.1:" + strconv.Itoa(port); srv.ClientURL() != want {
		t.Fatalf("client url = %s, want %s", srv.ClientURL(), want)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	if !nc.IsConnected() {
		t.Fatalf("not connected")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestBusyPortsFailFast(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err = embedded.StartNATS(ctx, t.TempDir(), embedded.WithNATSPort(port))
	if err == nil || !strings.Contains(err.Error(), "cannot listen") {
		t.Errorf("NATS on a busy port: error = %v, want a listen error", err)
	}
	_, err = embedded.StartEtcd(ctx, t.TempDir(), embedded.WithEtcdClientURL("http://127.0.0.1:"+strconv.Itoa(port)))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("etcd on a busy port: error = %v, want address already in use", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("busy ports took %s to report", d)
	}
}

func TestSecondServerOnSameDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	testutil.EtcdServerIn(t, dir)
	testutil.NATSServerIn(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := embedded.StartEtcd(ctx, dir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second etcd on the same dir: error = %v, want in use", err)
	}
	if _, err := embedded.StartNATS(ctx, dir); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second NATS on the same dir: error = %v, want in use", err)
	}
}
