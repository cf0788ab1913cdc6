package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigPrecedence checks defaults < file < FLEETPRUNE_* < flags, and that a
// bad file is refused with the key named.
func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fleetprune.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /from/file\ncoordinator:\n  lease_ttl: 7s\n  heartbeat_interval: 2s\n  http_addr: 127.0.0.1:1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLEETPRUNE_COORDINATOR_HEARTBEAT_INTERVAL", "3s")
	t.Setenv("FLEETPRUNE_COORDINATOR_HTTP_ADDR", "127.0.0.1:2222")
	cmd := newConfigCmd()
	if err := cmd.ParseFlags([]string{"--config", file, "--http-addr", "127.0.0.1:3333"}); err != nil {
		t.Fatal(err)
	}
	s, v, err := loadSettings(cmd)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"default", s.Coordinator.ReportBatch, 1024},
		{"file", s.DataDir, "/from/file"},
		{"file", s.Coordinator.LeaseTTL, 7 * time.Second},
		{"env over file", s.Coordinator.HeartbeatInterval, 3 * time.Second},
		{"flag over env", s.Coordinator.HTTPAddr, "127.0.0.1:3333"},
		{"derived key file", s.Coordinator.KeyFile, filepath.Join("/from/file", "coordinator.key")},
		{"derived stale_after", s.Coordinator.StaleAfter, 9 * time.Second},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	out, err := effectiveYAML(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(out, []byte("lease_ttl: 7s")) || !bytes.Contains(out, []byte("http_addr: 127.0.0.1:3333")) {
		t.Errorf("effective YAML lacks the file's lease_ttl or the flag's http_addr:\n%s", out)
	}

	for name, content := range map[string]string{
		"unknown key":  "coordinator:\n  lease_tll: 5s\n",
		"bad duration": "coordinator:\n  lease_ttl: soon\n",
		"impossible":   "coordinator:\n  lease_ttl: 10ms\n",
	} {
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := newConfigCmd()
		if err := cmd.ParseFlags([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadSettings(cmd); err == nil || !strings.Contains(err.Error(), "lease_t") {
			t.Errorf("%s: got %v, want an error naming the key", name, err)
		}
	}
}

// TestRolloutConfig checks that the rollout section reaches the plan and that a bad
// plan is refused with its key named.
func TestRolloutConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "fleetprune.yaml")
	load := func(content string) (*settings, error) {
		t.Helper()
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := newConfigCmd()
		if err := cmd.ParseFlags([]string{"--config", file}); err != nil {
			t.Fatal(err)
		}
		s, _, err := loadSettings(cmd)
		return s, err
	}
	s, err := load("rollout:\n  stages: [10, 100]\n  bake_time: 2m\n  latency_confirmations: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	p := s.Rollout.plan()
	if len(p.Stages) != 2 || p.Stages[0] != 10 || p.BakeTime.D() != 2*time.Minute || p.LatencyConfirmations != 3 || p.MinReports != 1 {
		t.Errorf("plan %+v, want stages [10 100], bake 2m, 3 confirmations, min reports 1 (default)", p)
	}
	for content, key := range map[string]string{
		"rollout:\n  stages: [50, 20, 100]\n":         "rollout.stages[1]",
		"rollout:\n  stages: [50]\n":                  "rollout.stages[0]",
		"rollout:\n  latency_confirmations: 9\n":      "rollout.latencyConfirmations",
		"rollout:\n  bake_time: -1s\n":                "rollout.bakeTime",
		"rollout:\n  min_reports: 0\n":                "rollout.minReports",
		"rollout:\n  stages: [5, 25, 50, 100, 200]\n": "rollout.stages[4]",
	} {
		if _, err := load(content); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: got %v, want an error naming %s", content, err, key)
		}
	}
}
