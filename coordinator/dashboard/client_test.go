package dashboard_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/rollout"
)

func TestClient(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, fx.actions))
	defer srv.Close()
	cl, err := dashboard.NewClient(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rs, err := cl.Rollouts(ctx, "edge")
	if err != nil || len(rs) != 1 || rs[0].ID != "r1" {
		t.Fatalf("rollouts: %v %+v", err, rs)
	}
	if _, err := cl.RolloutAction(ctx, "edge", "r1", dashboard.ActionPause, "maintenance window"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	r, err := cl.Rollout(ctx, "edge", "r1")
	if err != nil || r.State != rollout.StatePaused || !strings.Contains(r.Message, "maintenance window") {
		t.Fatalf("after pause: %v %+v", err, r)
	}
	_, err = cl.RolloutAction(ctx, "tiny", "r0", dashboard.ActionPromote, "")
	var re *dashboard.ResponseError
	if !errors.As(err, &re) || re.Status != 409 || !strings.Contains(err.Error(), "finished") {
		t.Fatalf("promote finished: got %v, want a 409 ResponseError", err)
	}
	if _, err := cl.Rollout(ctx, "edge", "nope"); !errors.As(err, &re) || re.Status != 404 || re.Field != "id" {
		t.Fatalf("unknown rollout: got %v", err)
	}
	if _, err := cl.Retune(ctx, "edge", "drift"); err != nil {
		t.Fatalf("retune: %v", err)
	}
	html, err := cl.Report(ctx, "edge")
	if err != nil || !strings.Contains(string(html), "<svg") {
		t.Fatalf("report: %v, %d bytes", err, len(html))
	}
	o, err := cl.Overview(ctx)
	if err != nil || len(o.Classes) != 2 || o.Classes[0].Tuning.RetuneReason != "drift" {
		t.Fatalf("overview: %v %+v", err, o)
	}
	for _, bad := range []string{"", "ftp://x", "http://", "not a url"} {
		if _, err := dashboard.NewClient(bad); err == nil {
			t.Errorf("NewClient(%q): no error", bad)
		}
	}
}
