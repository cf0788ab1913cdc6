package dashboard_test

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/rollout"
)

// TestCLI builds the fleetprune binary and runs `fleetprune rollout` and `fleetprune
// report` against a dashboard server and against etcd.
func TestCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fleetprune binary; skipped with -short")
	}
	fx := newFixture(t)
	base, stop := context.WithCancel(context.Background())
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions, dashboard.WithContext(base)))
	t.Cleanup(srv.Close)
	t.Cleanup(stop)

	dir := t.TempDir()
	bin := filepath.Join(dir, "fleetprune")
	build := exec.Command("go", "build", "-o", bin, "./cmd/fleetprune")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/fleetprune: %v\n%s", err, out)
	}
	run := func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("fleetprune %s: err %v, want ok %v\n%s", strings.Join(args, " "), err, wantOK, out)
		}
		return string(out)
	}

	out := run(true, "rollout", "list", "--server", srv.URL)
	for _, want := range []string{"CLASS", "edge", "r1", "edge-v1", "baking", "0 (25%)", "tiny", "r0", "aborted"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout list: no %q in\n%s", want, out)
		}
	}
	out = run(true, "rollout", "pause", "edge", "r1", "--reason", "night freeze", "--server", srv.URL)
	if !strings.Contains(out, "paused") || !strings.Contains(out, "night freeze") {
		t.Errorf("rollout pause: %s", out)
	}
	if r, _, err := fx.rollouts.Get(context.Background(), "edge", "r1"); err != nil || r.State != rollout.StatePaused {
		t.Fatalf("after pause: %v %s", err, r.State)
	}
	out = run(false, "rollout", "promote", "tiny", "r0", "--server", srv.URL)
	if !strings.Contains(out, "rollout has finished") || !strings.Contains(out, "409") {
		t.Errorf("promote on a finished rollout: %s", out)
	}
	out = run(false, "rollout", "resume", "Not_A_Class", "r1", "--server", srv.URL)
	if !strings.Contains(out, "Not_A_Class") {
		t.Errorf("bad class name: %s", out)
	}
	run(true, "rollout", "resume", "edge", "r1", "--server", srv.URL)
	if r, _, err := fx.rollouts.Get(context.Background(), "edge", "r1"); err != nil || r.State != rollout.StateBaking {
		t.Fatalf("after resume: %v %s", err, r.State)
	}

	for name, args := range map[string][]string{
		"server": {"report", "--class", "edge", "--out", "server.html", "--server", srv.URL},
		"etcd":   {"report", "--class", "edge", "--out", "etcd.html", "--etcd", strings.Join(fx.endpoints, ",")},
	} {
		out := run(true, args...)
		html, err := os.ReadFile(filepath.Join(dir, name+".html"))
		if err != nil {
			t.Fatalf("report via %s: %v (%s)", name, err, out)
		}
		for _, want := range []string{"Class edge", "<svg", "edge-v1", "accepted", "conv1", "night freeze"} {
			if !strings.Contains(string(html), want) {
				t.Errorf("report via %s: no %q", name, want)
			}
		}
	}
	out = run(false, "report", "--class", "nope", "--out", "x.html", "--server", srv.URL)
	if !strings.Contains(out, `no class "nope"`) {
		t.Errorf("report of an unknown class: %s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.html")); err == nil {
		t.Errorf("a failed report left a file behind")
	}
}
