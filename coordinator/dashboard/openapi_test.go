package dashboard_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
)

// coordinatorRoutes reads the patterns the coordinator's Handler registers from its
// source, so a route added there without documentation fails this test.
func coordinatorRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../api.go")
	if err != nil {
		t.Fatalf("read the coordinator's routes: %v", err)
	}
	re := regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+ /[^"]*)"`)
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		out = append(out, m[1])
	}
	if len(out) < 5 {
		t.Fatalf("found only %d routes in ../api.go: %v", len(out), out)
	}
	return out
}

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(dashboard.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	routes := append(dashboard.Routes(), coordinatorRoutes(t)...)
	served := map[string]bool{}
	for _, r := range routes {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			t.Errorf("route %q has no method", r)
			continue
		}
		path = strings.TrimSuffix(path, "{$}")
		method = strings.ToLower(method)
		served[method+" "+path] = true
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			if !served[method+" "+path] {
				t.Errorf("openapi.json documents %s %s, which nothing serves", strings.ToUpper(method), path)
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s: operation without id or responses (%v)", method, path, err)
			}
			for _, m := range regexp.MustCompile(`\{([a-z]+)\}`).FindAllStringSubmatch(path, -1) {
				if !strings.Contains(string(raw), `"name": "`+m[1]+`"`) && !strings.Contains(string(raw), `"name":"`+m[1]+`"`) {
					t.Errorf("%s %s: path parameter %s not declared", method, path, m[1])
				}
			}
		}
	}
	// Every reference resolves.
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/schemas/([A-Za-z]+)"`).FindAllStringSubmatch(string(dashboard.OpenAPI), -1) {
		if _, ok := doc.Components.Schemas[m[1]]; !ok {
			t.Errorf("dangling $ref to schema %s", m[1])
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	fx := newFixture(t)
	srv := httptest.NewServer(dashboard.New(fx.cli, nil))
	defer srv.Close()
	code, b := call(t, srv, "GET", "/api/openapi.json", "")
	if code != 200 || string(b) != string(dashboard.OpenAPI) {
		t.Fatalf("GET /api/openapi.json: %d, %d bytes, want the embedded %d bytes", code, len(b), len(dashboard.OpenAPI))
	}
}
