package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/internal/testutil"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

// chromiumPath is Debian's chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the browser test writes its screenshots, relative to the
// repository root (git-ignored; kept as CI artifacts).
const screenshotDir = "artifacts/screenshots"

// repoRoot finds the directory holding go.mod above the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// browser drives one headless chromium tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	shot string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser test needs Debian's chromium at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dir := filepath.Join(repoRoot(t), screenshotDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, shot: dir}
}

// do runs steps with a deadline. The page re-renders on live updates, so a node found
// by a query can be gone when the next step acts on it: that error runs the steps
// again, up to three times (a step that failed on it did nothing).
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	var err error
	for range 3 {
		if err = chromedp.Do(ctx, steps...); err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
	}
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// text returns the visible text of the page's main element.
func (b *browser) text() string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("main").innerText`))
	if err != nil {
		b.t.Fatalf("browser: read text: %v", err)
	}
	return s
}

func (b *browser) eval(expr string) int {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		b.t.Fatalf("browser: %s: %v", expr, err)
	}
	return n
}

// screenshot writes the full page as PNG to the screenshot directory.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	path := filepath.Join(b.shot, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s (%d bytes)", path, len(png))
}

// show switches the app to route and waits for that route to render (a render of the
// previous route still in flight marks its own route, so it cannot satisfy the wait).
func (b *browser) show(route, page string) {
	b.t.Helper()
	b.do("show "+route,
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`location.hash = %q; undefined`, route)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-page=%q][data-route=%q] #main > *`, page, route))),
	)
}

func wantText(t *testing.T, page, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s page does not show %q; it shows:\n%s", page, w, text)
		}
	}
}

// TestBrowser renders every page with real state in headless chromium, takes
// screenshots, and pauses and resumes a rollout with the buttons.
func TestBrowser(t *testing.T) {
	fx := newFixture(t)
	// Open event streams end with base, before the server closes (Close waits for
	// active requests); the browser, made last, closes first.
	base, stop := context.WithCancel(context.Background())
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions, dashboard.WithContext(base)))
	t.Cleanup(srv.Close)
	t.Cleanup(stop)
	b := newBrowser(t)

	b.do("open dashboard", chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`body[data-page="overview"] #main table`)),
		chromedp.WaitVisible(chromedp.CSS(`#live.on`)))
	wantText(t, "overview", b.text(), "edge", "tiny", "lenet5-mnist", "met", "tuning", "edge-1", "edge-3", "stale", "live",
		"edge-v1", "baking", "aborted", "rollout r0: stage 0 gate")
	b.screenshot("overview")

	b.show("#/class/edge", "class")
	b.do("charts", chromedp.WaitVisible(chromedp.CSS(`#main svg.chart .pt.accepted`)), chromedp.WaitVisible(chromedp.CSS(`#main svg.chart .curve`)))
	wantText(t, "class edge", b.text(), "Class edge", "Service level", "2.00 ms", "edge-v1 meets every limit", "accepted",
		"p95 2.3ms > slo 2ms", "accuracy drop 1.50pp > slo 1.00pp", "Sensitivity of lenet5-mnist", "edge-2")
	if n := b.eval(`document.querySelectorAll("#main svg.chart .pt").length`); n != 5 { // 4 points + the accepted ring
		t.Errorf("Pareto chart: got %d point marks, want 5", n)
	}
	if n := b.eval(`document.querySelectorAll("#main svg.chart .curve").length`); n != 4 {
		t.Errorf("sensitivity chart: got %d curves, want 4", n)
	}
	b.screenshot("class-edge")

	b.show("#/class/tiny", "class")
	wantText(t, "class tiny", b.text(), "Class tiny", "measuring", "tiny-1", "no measured variants yet", "rollout r0")
	b.screenshot("class-tiny")

	b.show("#/rollouts", "rollouts")
	wantText(t, "rollouts", b.text(), "r1", "edge-v1", "stage 0: 25%", "r0", "aborted by operator")
	b.screenshot("rollouts")

	state := func(want rollout.State) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, _, err := fx.rollouts.Get(context.Background(), "edge", "r1")
			if err == nil && r.State == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rollout edge/r1 in etcd: got %s (%v), want %s", r.State, err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.do("pause", chromedp.Click(chromedp.CSS(`button[data-rollout="edge/r1"][data-action="pause"]:not([disabled])`)))
	state(rollout.StatePaused)
	b.do("paused shown", chromedp.WaitVisible(chromedp.CSS(`.rollout[data-rollout="edge/r1"][data-state="paused"] button[data-action="resume"]:not([disabled])`)))
	b.screenshot("rollouts-paused")
	b.do("resume", chromedp.Click(chromedp.CSS(`button[data-rollout="edge/r1"][data-action="resume"]:not([disabled])`)))
	state(rollout.StateBaking)
	b.do("resumed shown", chromedp.WaitVisible(chromedp.CSS(`.rollout[data-rollout="edge/r1"][data-state="baking"]`)))

	// A change made elsewhere reaches the open page through the event stream, and
	// what the operator was typing survives the re-render.
	b.do("type a reason", chromedp.SetValue(chromedp.CSS(`input[data-rollout="edge/r1"]`), "half typed"))
	if err := fx.actions.RolloutAction(context.Background(), "edge", "r1", dashboard.ActionPause, "from the CLI"); err != nil {
		t.Fatal(err)
	}
	b.do("live update", chromedp.WaitVisible(chromedp.CSS(`.rollout[data-rollout="edge/r1"][data-state="paused"]`)))
	wantText(t, "rollouts", b.text(), "paused by operator at stage 0: from the CLI")
	if n := b.eval(`document.querySelector('input[data-rollout="edge/r1"]').value === "half typed" ? 1 : 0`); n != 1 {
		t.Errorf("the reason being typed was lost in the live update")
	}

	// Buttons of a finished rollout are disabled.
	if n := b.eval(`document.querySelectorAll('button[data-rollout="tiny/r0"]:not([disabled])').length`); n != 0 {
		t.Errorf("finished rollout tiny/r0: %d buttons enabled, want 0", n)
	}
	b.screenshot("rollouts-live")

	// The class report is a page of its own, with nothing fetched from elsewhere.
	b.do("report", chromedp.Navigate(srv.URL+"/api/v1/classes/edge/report"), chromedp.WaitVisible(chromedp.CSS(`svg.chart .pt.accepted`)))
	if n := b.eval(`document.querySelectorAll("svg.chart").length`); n != 2 {
		t.Errorf("report: %d charts, want 2", n)
	}
	b.screenshot("report-edge")

	b.do("back to the app", chromedp.Navigate(srv.URL+"/#/class/edge"), chromedp.WaitVisible(chromedp.CSS(`body[data-page="class"] #retune`)))
	// Retune through the button (last: it clears the edge class's trials): a new tuning generation with the operator's reason.
	b.do("retune", chromedp.SetValue(chromedp.CSS(`#retune-reason`), "new probe devices"), chromedp.Click(chromedp.CSS(`#retune`)))
	testutil.CheckFor(t, 10*time.Second, func() error {
		resp, err := fx.cli.Get(context.Background(), profiles.TuningKey("edge"))
		if err != nil || len(resp.Kvs) != 1 {
			return fmt.Errorf("read tuning state: %v", err)
		}
		var st tuning.State
		if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
			return err
		}
		if st.Generation != 2 || st.RetuneReason != "new probe devices" {
			return fmt.Errorf("tuning of edge: generation %d, retune reason %q", st.Generation, st.RetuneReason)
		}
		return nil
	})
	b.do("retune shown", chromedp.WaitVisible(chromedp.CSS(`body[data-page="class"] #main`)))
	testutil.CheckFor(t, 10*time.Second, func() error {
		if txt := b.text(); !strings.Contains(txt, "new probe devices") || !strings.Contains(txt, "measuring-base") {
			return fmt.Errorf("class page does not show the retune yet")
		}
		return nil
	})
}
