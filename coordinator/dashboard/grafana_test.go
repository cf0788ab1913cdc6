package dashboard_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// knownMetrics reads the metric names the coordinator, the agent and this package
// define from their sources.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	opts := regexp.MustCompile(`Namespace:\s*"([a-z_]+)",\s*Subsystem:\s*"([a-z_]+)",\s*Name:\s*"([a-z0-9_]+)"`)
	for _, f := range []string{"../metrics.go", "../../agent/metrics.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read metric names: %v", err)
		}
		for _, m := range opts.FindAllStringSubmatch(string(src), -1) {
			known[m[1]+"_"+m[2]+"_"+m[3]] = true
		}
	}
	src, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`NewDesc\("([a-z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		known[m[1]] = true
	}
	if len(known) < 20 {
		t.Fatalf("found only %d metric names: %v", len(known), known)
	}
	return known
}

// TestGrafanaDashboard: the dashboard is valid JSON, its panels have unique ids, and
// every metric its queries use is one fleetprune exports.
func TestGrafanaDashboard(t *testing.T) {
	path := filepath.Join(repoRoot(t), "deploy", "grafana", "fleetprune.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	known := knownMetrics(t)
	used := map[string]bool{}
	ids := map[int]bool{}
	name := regexp.MustCompile(`fleetprune_[a-z0-9_]+`)
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range name.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_count"), "_sum")
				used[base] = true
				if !known[base] {
					t.Errorf("panel %q queries %s, which nothing exports", p.Title, m)
				}
			}
		}
	}
	for _, want := range []string{"fleetprune_coordinator_devices", "fleetprune_coordinator_reports_ingested_total",
		"fleetprune_class_tuning_iterations", "fleetprune_class_verdict", "fleetprune_rollout_stage_percent",
		"fleetprune_rollout_gates", "fleetprune_agent_benchmark_latency_seconds"} {
		if !used[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}
