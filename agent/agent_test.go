package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/agent/probe"
	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func TestRegistrationRoundTrip(t *testing.T) {
	f := newFleet(t)
	hb, err := f.nc.SubscribeSync(fpv1.HeartbeatSubject("dev-1"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.startAgent("dev-1", t.TempDir(), WithLabels(map[string]string{"site": "lab", "tier": "gold"}), WithThreads(1))
	f.waitRegistered(a)

	regs := f.registrations()
	if len(regs) == 0 {
		t.Fatal("no registration request arrived")
	}
	r := regs[0]
	if r.GetDeviceId() != "dev-1" || r.GetAgentVersion() != Version {
		t.Errorf("request device %q version %q, want dev-1 %s", r.GetDeviceId(), r.GetAgentVersion(), Version)
	}
	p := r.GetProfile()
	if p.GetArch() != runtime.GOARCH || p.GetCores() < 1 || p.GetThreads() != 1 || p.GetLabels()["site"] != "lab" || p.GetLabels()["tier"] != "gold" {
		t.Errorf("profile = %v, want arch %s, cores >= 1, threads 1, labels site=lab tier=gold", p, runtime.GOARCH)
	}
	if got := a.Class(); got != testClass {
		t.Errorf("Class() = %q, want %q", got, testClass)
	}
	// Heartbeats come at the interval the reply named (200ms).
	var beats []*fpv1.Heartbeat
	for len(beats) < 3 {
		msg, err := hb.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("heartbeat %d: %v", len(beats)+1, err)
		}
		var b fpv1.Heartbeat
		if err := unmarshal(msg.Data, &b); err != nil {
			t.Fatal(err)
		}
		beats = append(beats, &b)
	}
	if beats[0].GetClass() != testClass || beats[2].GetSeq() <= beats[0].GetSeq() {
		t.Errorf("heartbeats %v: want class %q and rising seq", beats, testClass)
	}

	// Told to, it registers again, and follows a class change.
	f.mu.Lock()
	f.class = "edge2"
	f.mu.Unlock()
	if err := f.nc.Publish(ReregisterSubject("dev-1"), nil); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() bool { return a.Class() == "edge2" })
	testutil.CheckFor(t, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := f.js.Consumer(ctx, fpv1.StreamCommands, ConsumerName("dev-1"))
		if err != nil {
			return err
		}
		if got := c.CachedInfo().Config.FilterSubjects; len(got) != 2 || got[1] != fpv1.ClassCommandSubject("edge2") {
			return errorf("consumer filters %v, want edge2 subjects", got)
		}
		return nil
	})
	if n := len(f.registrations()); n < 2 {
		t.Errorf("%d registrations, want >= 2", n)
	}
}

func TestRegistrationRetriesUntilCoordinatorAnswers(t *testing.T) {
	nc, url := testutil.NATS(t)
	_ = nc
	f := &fleet{t: t, url: url}
	a, _ := f.startAgent("late", t.TempDir(), WithRegisterTimeout(100*time.Millisecond))
	time.Sleep(300 * time.Millisecond) // several attempts time out: nobody answers yet
	if a.Class() != "" {
		t.Fatal("agent has a class before any coordinator answered")
	}
	late := newFleetOn(t, url)
	testutil.WaitFor(t, 10*time.Second, func() bool { return a.Class() == testClass })
	if len(late.registrations()) == 0 {
		t.Error("coordinator saw no registration")
	}
}

func TestBenchmarkInstallRollback(t *testing.T) {
	f := newFleet(t)
	dir := t.TempDir()
	a, stop := f.startAgent("dev-2", dir, WithThreads(1))
	f.waitRegistered(a)
	reps := f.reports("dev-2")
	v1, v2 := lenet(t, 0), lenet(t, 1)
	m1, m2 := f.goodVariant("v1", v1), f.goodVariant("v2", v2)

	f.send("dev-2", benchCmd("b1", m1))
	rep := reps.next(60 * time.Second)
	if rep.GetKind() != KindBenchmark || !rep.GetOk() || rep.GetCommandId() != "b1" || rep.GetVariantId() != "v1" {
		t.Fatalf("report = %v, want ok benchmark of v1 for b1", rep)
	}
	if rep.GetRuns() != 5 || rep.GetP50Ns() <= 0 || rep.GetP95Ns() < rep.GetP50Ns() || rep.GetP99Ns() < rep.GetP95Ns() || rep.GetMeanNs() <= 0 {
		t.Errorf("latencies runs=%d p50=%d p95=%d p99=%d mean=%d: want 5 runs, 0 < p50 <= p95 <= p99", rep.GetRuns(), rep.GetP50Ns(), rep.GetP95Ns(), rep.GetP99Ns(), rep.GetMeanNs())
	}
	if len(rep.GetLayers()) < 5 || rep.GetPeakRssBytes() == 0 || rep.GetThreads() != 1 || rep.GetSeq() == 0 {
		t.Errorf("layers=%d rss=%d threads=%d seq=%d: want per-layer times, RSS, 1 thread, a seq", len(rep.GetLayers()), rep.GetPeakRssBytes(), rep.GetThreads(), rep.GetSeq())
	}
	if want := expectedChecksum(t, 0, 11); rep.GetOutputChecksum() != want {
		t.Errorf("checksum %s, want %s (computed here with the engine)", rep.GetOutputChecksum(), want)
	}
	if a.InstalledVariant() != "" {
		t.Errorf("a benchmark installed %q", a.InstalledVariant())
	}
	firstSeq := rep.GetSeq()

	f.send("dev-2", installCmd("i1", m1))
	rep = reps.next(60 * time.Second)
	if rep.GetKind() != KindInstall || !rep.GetOk() || rep.GetInstalledVariant() != "v1" || rep.GetPreviousVariant() != "" || rep.GetP95Ns() <= 0 {
		t.Fatalf("report = %v, want ok install of v1 with a benchmark", rep)
	}
	f.send("dev-2", installCmd("i2", m2))
	rep = reps.next(60 * time.Second)
	if rep.GetKind() != KindInstall || !rep.GetOk() || rep.GetInstalledVariant() != "v2" || rep.GetPreviousVariant() != "v1" {
		t.Fatalf("report = %v, want ok install of v2 over v1", rep)
	}
	assertInstalled(t, a, v2)

	f.send("dev-2", rollbackCmd("r1", "v1"))
	rep = reps.next(30 * time.Second)
	if rep.GetKind() != KindRollback || !rep.GetOk() || rep.GetInstalledVariant() != "v1" || rep.GetPreviousVariant() != "v2" {
		t.Fatalf("report = %v, want ok rollback to v1 keeping v2", rep)
	}
	assertInstalled(t, a, v1)
	// A rollback to a variant the device does not keep fails and changes nothing.
	f.send("dev-2", rollbackCmd("r2", "v9"))
	rep = reps.next(30 * time.Second)
	if rep.GetKind() != KindRollback || rep.GetOk() || !strings.Contains(rep.GetError(), "no previous variant") {
		t.Fatalf("report = %v, want a failed rollback", rep)
	}
	assertInstalled(t, a, v1)

	// A restart keeps the installed variant and never reuses a sequence number.
	stop()
	a2, _ := f.startAgent("dev-2", dir, WithThreads(1))
	f.waitRegistered(a2)
	assertInstalled(t, a2, v1)
	f.send("dev-2", rollbackCmd("r3", ""))
	rep = reps.next(30 * time.Second)
	if !rep.GetOk() || rep.GetInstalledVariant() != "v2" {
		t.Fatalf("report after restart = %v, want rollback to v2", rep)
	}
	if rep.GetSeq() <= firstSeq+4 {
		t.Errorf("seq after restart %d, want > %d", rep.GetSeq(), firstSeq+4)
	}
	assertInstalled(t, a2, v2)
}

// assertInstalled checks the live model file holds want and that only the live and
// the previous variant are kept on disk.
func assertInstalled(t *testing.T, a *Agent, want []byte) {
	t.Helper()
	got, err := os.ReadFile(a.InstalledModelPath())
	if err != nil {
		t.Fatalf("installed model: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("installed model is %d bytes, not the expected %d-byte variant", len(got), len(want))
	}
	entries, _ := os.ReadDir(filepath.Dir(a.InstalledModelPath()))
	if len(entries) > 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("models dir holds %v, want at most the live and previous variant", names)
	}
}

// expectedChecksum is what the coordinator computes: the engine's outputs on the
// probe batch, checksummed with agent/probe.
func expectedChecksum(t *testing.T, model int, seed uint64) string {
	t.Helper()
	g := models.LeNet5(uint64(model + 1))
	exec, err := graph.Compile(g, graph.WithThreads(2))
	if err != nil {
		t.Fatal(err)
	}
	x, err := probe.Batch(seed, []int64{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Run(context.Background(), map[string]*tensor.Tensor{models.InputName: x})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := probe.OutputChecksum([]*tensor.Tensor{out[models.OutputName]})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestOfflineAgentCatchesUp(t *testing.T) {
	f := newFleet(t)
	dir := t.TempDir()
	a, stop := f.startAgent("dev-3", dir, WithThreads(1))
	f.waitRegistered(a)
	stop()

	reps := f.reports("dev-3")
	m := f.goodVariant("v1", lenet(t, 0))
	// Sent while the agent is away: one to the device, one to the whole class.
	f.send("dev-3", installCmd("while-away", m))
	cmd := benchCmd("class-wide", m)
	b, _ := marshal(cmd)
	f.sendRaw(fpv1.ClassCommandSubject(testClass), b)

	a2, _ := f.startAgent("dev-3", dir, WithThreads(1))
	got := map[string]*fpv1.Report{}
	for len(got) < 2 {
		rep := reps.next(60 * time.Second)
		got[rep.GetCommandId()] = rep
	}
	if rep := got["while-away"]; !rep.GetOk() || rep.GetKind() != KindInstall {
		t.Errorf("install report = %v, want ok", rep)
	}
	if rep := got["class-wide"]; !rep.GetOk() || rep.GetKind() != KindBenchmark {
		t.Errorf("class benchmark report = %v, want ok", rep)
	}
	if a2.InstalledVariant() != "v1" {
		t.Errorf("installed %q, want v1", a2.InstalledVariant())
	}
	// Acked: nothing is delivered twice.
	reps.none(500 * time.Millisecond)
}

func TestRefusesTamperedArtifactsAndBadSignatures(t *testing.T) {
	f := newFleet(t)
	dir := t.TempDir()
	a, _ := f.startAgent("dev-4", dir, WithThreads(1))
	f.waitRegistered(a)
	reps := f.reports("dev-4")
	good := lenet(t, 0)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff
	_, otherKey, _ := ed25519.GenerateKey(nil)

	tampered := f.publishVariant(f.priv, "v-tampered", "tampered-object", corrupt, good)
	forged := f.publishVariant(otherKey, "v-forged", "forged-object", good, good)
	edited := f.goodVariant("v-edited", good)
	edited.Manifest[len(edited.Manifest)-1] ^= 1
	missing := f.publishVariant(f.priv, "v-missing", "never-stored", good, good)
	_ = f.deleteObject("never-stored")

	tests := []struct {
		name string
		cmd  *fpv1.Command
		want string
	}{
		{"tampered artifact, install", installCmd("c1", tampered), "digest mismatch"},
		{"tampered artifact, benchmark", benchCmd("c2", tampered), "digest mismatch"},
		{"manifest signed by another key", installCmd("c3", forged), "bad signature"},
		{"manifest edited after signing", installCmd("c4", edited), "bad signature"},
		{"artifact missing from bucket", installCmd("c5", missing), "not in bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.send("dev-4", tt.cmd)
			rep := reps.next(30 * time.Second)
			if rep.GetKind() != KindRefused || rep.GetOk() || rep.GetCommandId() != tt.cmd.GetId() || !strings.Contains(rep.GetError(), tt.want) {
				t.Fatalf("report = %v, want refused for %s with %q", rep, tt.cmd.GetId(), tt.want)
			}
			if a.InstalledVariant() != "" || a.InstalledModelPath() != "" {
				t.Fatalf("installed %q after a refusal", a.InstalledVariant())
			}
			entries, _ := os.ReadDir(filepath.Join(dir, storeModelsDir))
			if len(entries) != 0 {
				t.Fatalf("models dir holds %d files after a refusal", len(entries))
			}
		})
	}
}

func TestBadCommandsAreRefusedWithoutCrash(t *testing.T) {
	f := newFleet(t)
	a, _ := f.startAgent("dev-5", t.TempDir(), WithThreads(1), WithMaxCommandBytes(4096))
	f.waitRegistered(a)
	reps := f.reports("dev-5")
	subject := fpv1.CommandSubject(testClass, "dev-5")
	valid, _ := marshal(benchCmd("x", f.goodVariant("v1", lenet(t, 0))))
	wrongDevice, _ := marshal(&fpv1.Command{Id: "wd", Class: testClass, DeviceId: "someone-else", Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{}}})
	wrongClass, _ := marshal(&fpv1.Command{Id: "wc", Class: "other", Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{}}})
	noKind, _ := marshal(&fpv1.Command{Id: "nk", Class: testClass})
	noID, _ := marshal(&fpv1.Command{Class: testClass, Kind: &fpv1.Command_Rollback{Rollback: &fpv1.RollbackCommand{}}})
	badRuns, _ := marshal(&fpv1.Command{Id: "br", Class: testClass, Kind: &fpv1.Command_Benchmark{Benchmark: &fpv1.BenchmarkCommand{Manifest: &fpv1.SignedManifest{}, TimedRuns: -3}}})

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("\xff\xfe this is not protobuf"), "not a Command"},
		{"oversized", append(bytes.Repeat([]byte{0}, 5000), valid...), "limit 4096"},
		{"empty", []byte{}, "empty message"},
		{"wrong device", wrongDevice, "someone-else"},
		{"wrong class", wrongClass, "class \"other\""},
		{"no kind", noKind, "no kind"},
		{"no id", noID, "no command id"},
		{"negative runs", badRuns, "timed runs -3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sendRaw(subject, tt.data)
			rep := reps.next(30 * time.Second)
			if rep.GetKind() != KindRefused || rep.GetOk() || !strings.Contains(rep.GetError(), tt.want) {
				t.Fatalf("report = %v, want refused with %q", rep, tt.want)
			}
		})
	}
	// Still serving: a valid command works afterwards.
	f.sendRaw(subject, valid)
	if rep := reps.next(60 * time.Second); rep.GetKind() != KindBenchmark || !rep.GetOk() {
		t.Fatalf("report = %v, want an ok benchmark after the bad commands", rep)
	}
}

// TestCommandDeliveredAgain checks that a command delivered again after its report
// (its ack lost, or sent twice) is acked without being carried out or reported again,
// also after a restart, while new commands still run.
func TestCommandDeliveredAgain(t *testing.T) {
	f := newFleet(t)
	dir := t.TempDir()
	a, stop := f.startAgent("dev-6", dir, WithThreads(1))
	f.waitRegistered(a)
	reps := f.reports("dev-6")
	m1 := f.goodVariant("v1", lenet(t, 0))
	f.send("dev-6", installCmd("i1", m1))
	if rep := reps.next(60 * time.Second); rep.GetCommandId() != "i1" || !rep.GetOk() {
		t.Fatalf("report = %v, want ok install i1", rep)
	}
	// The same command again: JetStream delivers it (no message id), the agent must
	// not install and report a second time.
	f.send("dev-6", installCmd("i1", m1))
	reps.none(2 * time.Second)

	stop()
	a2, _ := f.startAgent("dev-6", dir, WithThreads(1))
	f.waitRegistered(a2)
	f.send("dev-6", installCmd("i1", m1))
	f.send("dev-6", rollbackCmd("r1", "v9"))
	if rep := reps.next(30 * time.Second); rep.GetCommandId() != "r1" {
		t.Fatalf("report after restart = %v, want r1's (i1 was done before the restart)", rep)
	}
}
