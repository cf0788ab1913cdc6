package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func TestAPIAnswers(t *testing.T) {
	f := newFixture(t)
	r := f.start(t, testConfig("solo"))
	r.ready(t)
	base := "http://" + r.c.APIAddr()
	nc := testutil.NATSConn(t, f.natsURL)
	if rep := register(t, nc, &fpv1.RegisterRequest{DeviceId: "dev-1", Profile: &fpv1.HardwareProfile{Arch: "arm64", Cores: 4, MemoryBytes: 1 << 30}}); !rep.GetAccepted() {
		t.Fatalf("register: %s", rep.GetReason())
	}
	tests := []struct {
		name, method, path string
		body               []byte
		wantStatus         int
		wantField          string
		wantIn             string
	}{
		{"healthz", "GET", "/healthz", nil, 200, "", `"leader": true`},
		{"leader", "GET", "/api/v1/leader", nil, 200, "", `"leader": "solo"`},
		{"devices", "GET", "/api/v1/devices", nil, 200, "", `"id": "dev-1"`},
		{"device", "GET", "/api/v1/devices/dev-1", nil, 200, "", `"arch": "arm64"`},
		{"unknown device", "GET", "/api/v1/devices/nope", nil, 404, "id", "no device"},
		{"bad device id", "GET", "/api/v1/devices/Bad_ID", nil, 400, "id", "device id"},
		{"classes empty", "GET", "/api/v1/classes", nil, 200, "", "[]"},
		{"models empty", "GET", "/api/v1/models", nil, 200, "", "[]"},
		{"bad variant class", "GET", "/api/v1/variants?class=NO!", nil, 400, "class", "class"},
		{"unknown endpoint", "GET", "/api/v1/nothing", nil, 404, "", "no endpoint"},
		{"empty artifact", "POST", "/api/v1/artifacts", nil, 400, "", "empty artifact"},
		{"json as artifact", "POST", "/api/v1/artifacts", []byte(`{"not":"onnx"}`), 400, "", "not an ONNX model"},
		{"oversized fleet", "POST", "/api/v1/apply", bytes.Repeat([]byte("#"), 2<<20), 413, "", "larger than"},
		{"empty fleet", "POST", "/api/v1/apply", nil, 400, "", "empty"},
		{"metrics", "GET", "/metrics", nil, 200, "", "fleetprune_coordinator_leader 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %s)", resp.StatusCode, tt.wantStatus, b)
			}
			if !strings.Contains(string(b), tt.wantIn) {
				t.Errorf("body %s does not contain %q", b, tt.wantIn)
			}
			if tt.wantStatus >= 400 {
				var e APIError
				if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
					t.Errorf("error body %s is not {\"error\": ...}: %v", b, err)
				}
				if e.Field != tt.wantField {
					t.Errorf("field: got %q, want %q", e.Field, tt.wantField)
				}
			}
		})
	}
	// The devices gauge counts the registered device once the gauges refresh; it has
	// sent no heartbeat for longer than StaleAfter by then.
	testutil.CheckFor(t, 10*time.Second, func() error {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, want := range []string{
			`fleetprune_coordinator_devices{class="none",presence="stale"} 1`,
			`fleetprune_coordinator_registrations_total{result="accepted"} 1`,
		} {
			if !strings.Contains(string(b), want) {
				return errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}
