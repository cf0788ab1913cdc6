package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/profiles"
)

// FuzzActionBody sends arbitrary bodies to an action on a finished rollout: every
// answer is a JSON error (400, 409 or 413), never a crash or a write.
func FuzzActionBody(f *testing.F) {
	fx := newFixture(f)
	h := dashboard.New(fx.cli, fx.actions)
	resp, err := fx.cli.Get(context.Background(), profiles.Prefix, clientv3CountOnly()...)
	if err != nil {
		f.Fatal(err)
	}
	rev := resp.Header.GetRevision()
	for _, s := range []string{"", "{}", `{"reason":"x"}`, "{", "[]", "null", `{"reason":1}`, `{"reason":"a"} x`, "\xff\xfe", `{"reason":"\u0000"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/rollouts/tiny/r0/promote", bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("body %q: status %d: %s", body, rec.Code, rec.Body)
		}
		var e dashboard.APIError
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
			t.Fatalf("body %q: answer is not a JSON error: %s", body, rec.Body)
		}
		resp, err := fx.cli.Get(context.Background(), profiles.Prefix, clientv3CountOnly()...)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.GetRevision(); got != rev {
			t.Fatalf("body %q: etcd changed: revision %d -> %d", body, rev, got)
		}
	})
}
