package dashboard_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v in %s", v, err, b)
	}
	return v
}

func (fx *fixture) revision(t *testing.T) int64 {
	t.Helper()
	resp, err := fx.cli.Get(context.Background(), profiles.Prefix, clientv3CountOnly()...)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.GetRevision()
}

func TestReadEndpoints(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions))
	defer srv.Close()

	t.Run("overview", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/overview", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		o := decode[view.Overview](t, b)
		if got := len(o.Classes); got != 2 {
			t.Fatalf("classes: got %d, want 2", got)
		}
		if o.Classes[0].Name != "edge" || o.Classes[0].Status != view.StatusMet || o.Classes[0].Tuning.Accepted != "edge-v1" {
			t.Errorf("edge: got %+v", o.Classes[0])
		}
		if o.Classes[0].Devices != 3 || o.Classes[0].LiveDevices != 2 || o.Classes[0].StaleDevices != 1 {
			t.Errorf("edge devices: got %d (%d live, %d stale), want 3 (2, 1)", o.Classes[0].Devices, o.Classes[0].LiveDevices, o.Classes[0].StaleDevices)
		}
		if c := o.Classes[1]; c.Name != "tiny" || c.Status != view.StatusTuning || c.Tuning.Generation != 2 || !strings.Contains(c.Tuning.RetuneReason, "gate") {
			t.Errorf("tiny: got %+v", c)
		}
		if got := len(o.Devices); got != 4 {
			t.Errorf("devices: got %d, want 4", got)
		}
		if got := len(o.Rollouts); got != 2 {
			t.Errorf("rollouts: got %d, want 2", got)
		}
	})
	t.Run("class devices", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/classes/edge/devices", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		ds := decode[[]view.DeviceView](t, b)
		if len(ds) != 3 {
			t.Fatalf("got %d devices, want 3", len(ds))
		}
		byID := map[string]view.DeviceView{}
		for _, d := range ds {
			byID[d.ID] = d
		}
		if d := byID["edge-1"]; d.Presence != view.PresenceLive || d.LastReport == nil || d.LastReport.P95Ms != 1.6 || d.InstalledVariant != "edge-v1" || d.ReportsApplied != 1 {
			t.Errorf("edge-1: got %+v, report %+v", d, d.LastReport)
		}
		if d := byID["edge-3"]; d.Presence != view.PresenceStale || d.LastReport != nil {
			t.Errorf("edge-3: got presence %s report %+v, want stale without report", d.Presence, d.LastReport)
		}
	})
	t.Run("tuning", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/classes/edge/tuning", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		tv := decode[view.TuningView](t, b)
		if tv.SLOP95Ms != 2 || tv.State == nil || tv.State.Verdict != tuning.Met {
			t.Fatalf("got %+v", tv)
		}
		if diff := tv.AccuracyFloor - 97.9; diff > 1e-9 || diff < -1e-9 {
			t.Errorf("accuracy floor: got %v, want 97.9", tv.AccuracyFloor)
		}
		want := map[string]struct {
			meets, accepted, frontier bool
		}{
			"lenet5-mnist": {false, false, true}, "edge-v1": {true, true, true},
			"edge-v2": {false, false, true}, "edge-v3": {false, false, true},
		}
		if len(tv.Points) != len(want) {
			t.Fatalf("got %d points, want %d", len(tv.Points), len(want))
		}
		for _, p := range tv.Points {
			w := want[p.VariantID]
			if p.MeetsSLO != w.meets || p.Accepted != w.accepted || p.Frontier != w.frontier {
				t.Errorf("%s: got meets %v accepted %v frontier %v (%s), want %+v", p.VariantID, p.MeetsSLO, p.Accepted, p.Frontier, p.Violation, w)
			}
		}
	})
	t.Run("variants", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/classes/edge/variants", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		vs := decode[[]view.VariantView](t, b)
		if len(vs) != 3 || vs[0].ID != "edge-v1" || !vs[0].Accepted || vs[0].Devices != 2 || vs[0].Trial == nil || vs[0].Trial.P95Ms != 1.7 {
			t.Fatalf("got %+v", vs)
		}
		if strings.Contains(string(b), "manifest") {
			t.Errorf("variants leak manifest bytes: %s", b)
		}
	})
	t.Run("sensitivity", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/models/lenet5-mnist/sensitivity", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		if c := decode[map[string]any](t, b); len(c["layers"].([]any)) != 4 {
			t.Errorf("got %v", c)
		}
	})
	t.Run("charts", func(t *testing.T) {
		for path, wants := range map[string][]string{
			"/api/v1/classes/edge/pareto.svg":             {"<svg", `class="slo-p95"`, `class="slo-acc"`, `class="pt accepted"`, "edge-v1"},
			"/api/v1/models/lenet5-mnist/sensitivity.svg": {"<svg", "conv1", "fc2", "polyline"},
			"/api/v1/classes/tiny/pareto.svg":             {"no measured variants yet"},
		} {
			code, b := call(t, srv, "GET", path, "")
			if code != 200 {
				t.Fatalf("%s: status %d: %s", path, code, b)
			}
			for _, w := range wants {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s: no %q", path, w)
				}
			}
		}
	})
	t.Run("report", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/classes/edge/report", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		for _, w := range []string{"Class edge", "edge-v1", "<svg", "accepted", "r1", "conv2", "p95 latency</dt><dd>2ms"} {
			if !strings.Contains(string(b), w) {
				t.Errorf("report has no %q", w)
			}
		}
		if strings.Contains(string(b), "http://") || strings.Contains(string(b), "https://") {
			if !strings.Contains(string(b), `xmlns="http://www.w3.org/2000/svg"`) {
				t.Errorf("report links outside assets")
			}
		}
	})
	t.Run("rollouts", func(t *testing.T) {
		code, b := call(t, srv, "GET", "/api/v1/rollouts", "")
		if code != 200 {
			t.Fatalf("status %d: %s", code, b)
		}
		rs := decode[[]view.RolloutView](t, b)
		if len(rs) != 2 || rs[0].ID != "r1" || rs[0].State != rollout.StateBaking || rs[0].StagePercent != 25 || rs[1].State != rollout.StateAborted || !rs[1].Final {
			t.Fatalf("got %+v", rs)
		}
		code, b = call(t, srv, "GET", "/api/v1/rollouts?class=tiny", "")
		if rs := decode[[]view.RolloutView](t, b); code != 200 || len(rs) != 1 || rs[0].ID != "r0" {
			t.Fatalf("class=tiny: %d %s", code, b)
		}
		code, b = call(t, srv, "GET", "/api/v1/rollouts/edge/r1", "")
		if r := decode[view.RolloutView](t, b); code != 200 || r.Variant != "edge-v1" || len(r.Cohorts) != 1 || len(r.History) == 0 {
			t.Fatalf("r1: %d %s", code, b)
		}
	})
	t.Run("spa", func(t *testing.T) {
		for path, want := range map[string]string{"/": "<title>fleetprune</title>", "/assets/app.js": "EventSource", "/assets/style.css": ".badge"} {
			code, b := call(t, srv, "GET", path, "")
			if code != 200 || !strings.Contains(string(b), want) {
				t.Errorf("%s: status %d, no %q", path, code, want)
			}
		}
	})
}

func TestBadRequests(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions))
	defer srv.Close()
	tests := []struct {
		name, method, path, body string
		code                     int
		field, msg               string
	}{
		{"unknown class devices", "GET", "/api/v1/classes/nope/devices", "", 404, "class", `no class "nope"`},
		{"unknown class tuning", "GET", "/api/v1/classes/nope/tuning", "", 404, "class", `no class "nope"`},
		{"invalid class name", "GET", "/api/v1/classes/Bad_Name/tuning", "", 404, "class", "Bad_Name"},
		{"unknown class variants", "GET", "/api/v1/classes/nope/variants", "", 404, "class", "no class"},
		{"unknown class report", "GET", "/api/v1/classes/nope/report", "", 404, "class", "no class"},
		{"unknown class pareto", "GET", "/api/v1/classes/nope/pareto.svg", "", 404, "class", "no class"},
		{"unknown model", "GET", "/api/v1/models/resnet/sensitivity", "", 404, "model", "no sensitivity curves"},
		{"unknown model svg", "GET", "/api/v1/models/resnet/sensitivity.svg", "", 404, "model", "no sensitivity curves"},
		{"rollouts of unknown class", "GET", "/api/v1/rollouts?class=nope", "", 404, "class", "no class"},
		{"rollouts of bad class", "GET", "/api/v1/rollouts?class=a/b", "", 400, "class", "class"},
		{"unknown rollout", "GET", "/api/v1/rollouts/edge/r9", "", 404, "id", `no rollout "r9"`},
		{"rollout of unknown class", "GET", "/api/v1/rollouts/nope/r1", "", 404, "class", "no class"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", 404, "", "no endpoint GET /api/v1/nothing"},
		{"promote finished", "POST", "/api/v1/rollouts/tiny/r0/promote", "", 409, "action", "rollout has finished"},
		{"pause finished", "POST", "/api/v1/rollouts/tiny/r0/pause", `{"reason":"x"}`, 409, "action", "state is aborted"},
		{"resume not paused", "POST", "/api/v1/rollouts/edge/r1/resume", "", 409, "action", "not paused"},
		{"unknown action", "POST", "/api/v1/rollouts/edge/r1/explode", "", 404, "action", `no rollout action "explode"`},
		{"action on unknown rollout", "POST", "/api/v1/rollouts/edge/r9/pause", "", 404, "id", `no rollout "r9"`},
		{"action on unknown class", "POST", "/api/v1/rollouts/nope/r1/pause", "", 404, "class", "no class"},
		{"malformed JSON", "POST", "/api/v1/rollouts/edge/r1/pause", `{"reason":`, 400, "", "malformed JSON"},
		{"wrong type", "POST", "/api/v1/rollouts/edge/r1/pause", `{"reason":5}`, 400, "reason", "malformed JSON"},
		{"unknown field", "POST", "/api/v1/rollouts/edge/r1/pause", `{"reasn":"x"}`, 400, "reasn", "unknown field"},
		{"trailing data", "POST", "/api/v1/rollouts/edge/r1/pause", `{} {}`, 400, "", "trailing data"},
		{"reason too long", "POST", "/api/v1/rollouts/edge/r1/pause", `{"reason":"` + strings.Repeat("x", 600) + `"}`, 400, "reason", "at most 500"},
		{"body too large", "POST", "/api/v1/rollouts/edge/r1/pause", `{"reason":"` + strings.Repeat("x", 20000) + `"}`, 413, "", "larger than"},
		{"retune unknown class", "POST", "/api/v1/classes/nope/retune", "", 404, "class", "no class"},
		{"retune malformed JSON", "POST", "/api/v1/classes/edge/retune", `[1,2]`, 400, "", "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fx.revision(t)
			code, b := call(t, srv, tt.method, tt.path, tt.body)
			if code != tt.code {
				t.Fatalf("status: got %d, want %d (%s)", code, tt.code, b)
			}
			e := decode[dashboard.APIError](t, b)
			if e.Field != tt.field || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("got %+v, want field %q and a message with %q", e, tt.field, tt.msg)
			}
			if after := fx.revision(t); after != before {
				t.Errorf("etcd changed: revision %d -> %d", before, after)
			}
		})
	}
}

func TestActions(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions))
	defer srv.Close()
	ctx := context.Background()
	state := func() rollout.State {
		r, _, err := fx.rollouts.Get(ctx, "edge", "r1")
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}
	steps := []struct {
		action string
		code   int
		want   rollout.State
	}{
		{"pause", 200, rollout.StatePaused},
		{"pause", 409, rollout.StatePaused},
		{"resume", 200, rollout.StateBaking},
		{"promote", 200, rollout.StatePromoting},
		{"abort", 200, rollout.StateAborted},
		{"promote", 409, rollout.StateAborted},
		{"resume", 409, rollout.StateAborted},
	}
	for i, s := range steps {
		code, b := call(t, srv, "POST", "/api/v1/rollouts/edge/r1/"+s.action, `{"reason":"step `+string(rune('0'+i))+`"}`)
		if code != s.code {
			t.Fatalf("step %d %s: status %d, want %d: %s", i, s.action, code, s.code, b)
		}
		if got := state(); got != s.want {
			t.Fatalf("step %d %s: state %s, want %s", i, s.action, got, s.want)
		}
	}
	r, _, _ := fx.rollouts.Get(ctx, "edge", "r1")
	if last := r.History[len(r.History)-1]; !strings.Contains(last.Message, "step 4") {
		t.Errorf("history does not carry the operator's reason: %+v", last)
	}

	code, b := call(t, srv, "POST", "/api/v1/classes/edge/retune", `{"reason":"p95 drift"}`)
	if code != 200 {
		t.Fatalf("retune: %d %s", code, b)
	}
	code, b = call(t, srv, "GET", "/api/v1/classes/edge/tuning", "")
	tv := decode[view.TuningView](t, b)
	if code != 200 || tv.State.Generation != 2 || tv.State.RetuneReason != "p95 drift" || tv.State.Phase != tuning.PhaseMeasuringBase {
		t.Fatalf("after retune: %d %+v", code, tv.State)
	}
	code, _ = call(t, srv, "POST", "/api/v1/classes/tiny/retune", "")
	code2, b := call(t, srv, "GET", "/api/v1/classes/tiny/tuning", "")
	if tv := decode[view.TuningView](t, b); code != 200 || code2 != 200 || tv.State.RetuneReason != dashboard.DefaultRetuneReason {
		t.Fatalf("retune without body: %d, state %+v", code, tv.State)
	}
}

// TestActionsReadOnly: without Actions every action is refused with 503 and nothing
// is written; reads still work.
func TestActionsReadOnly(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, nil))
	defer srv.Close()
	before := fx.revision(t)
	for _, path := range []string{"/api/v1/rollouts/edge/r1/pause", "/api/v1/classes/edge/retune"} {
		code, b := call(t, srv, "POST", path, "")
		if code != 503 || !strings.Contains(string(b), "read-only") {
			t.Errorf("%s: %d %s, want 503 read-only", path, code, b)
		}
	}
	if after := fx.revision(t); after != before {
		t.Errorf("etcd changed: %d -> %d", before, after)
	}
	if code, _ := call(t, srv, "GET", "/api/v1/overview", ""); code != 200 {
		t.Errorf("overview: %d", code)
	}
}

// TestNotLeader: a deposed leader's action is refused by the fence (503).
func TestNotLeader(t *testing.T) {
	fx := newFixture(t)
	stale := *fx.actions
	stale.fence.Rev++ // another term's fence
	srv := httptest.NewServer(dashboard.New(fx.cli, &stale))
	defer srv.Close()
	before := fx.revision(t)
	code, b := call(t, srv, "POST", "/api/v1/rollouts/edge/r1/pause", "")
	if code != 503 || !strings.Contains(string(b), "not the leader") {
		t.Fatalf("got %d %s, want 503 not the leader", code, b)
	}
	if after := fx.revision(t); after != before {
		t.Errorf("etcd changed: %d -> %d", before, after)
	}
}

// TestFallbackAPI: requests the dashboard does not serve go to the API handler.
func TestFallbackAPI(t *testing.T) {
	fx := newFixture(t)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-From", "api")
		w.WriteHeader(http.StatusTeapot)
	})
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions, dashboard.WithAPI(api)))
	defer srv.Close()
	for path, want := range map[string]int{"/api/v1/classes": 418, "/healthz": 418, "/api/v1/overview": 200, "/": 200} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: got %d, want %d", path, resp.StatusCode, want)
		}
	}
}
