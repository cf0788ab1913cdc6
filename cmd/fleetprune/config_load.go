package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

// envPrefix prefixes every environment variable: FLEETPRUNE_DATA_DIR,
// FLEETPRUNE_COORDINATOR_LEASE_TTL, ...
const envPrefix = "FLEETPRUNE"

// Defaults of the command line that are not a package's.
const (
	defaultDataDir       = "./.fleetprune"
	defaultServer        = "http://127.0.0.1:8080"
	defaultEtcdClientURL = "http://127.0.0.1:2379"
	defaultEtcdPeerURL   = "http://127.0.0.1:2380"
	defaultNATSPort      = 4222
	defaultNATSURL       = "nats://127.0.0.1:4222"
	defaultEtcdURLs      = "http://127.0.0.1:2379"
)

// settings is the effective configuration of the server-side commands, read by
// viper from (lowest to highest precedence) defaults, the YAML file given by
// --config, FLEETPRUNE_* environment variables and flags.
type settings struct {
	// DataDir holds embedded etcd and NATS data and the signing key (`up`).
	DataDir string `mapstructure:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `mapstructure:"log_level"`
	// Etcd is the comma-separated etcd client URLs (`coordinator`).
	Etcd string `mapstructure:"etcd"`
	// NATS is the NATS URL (`coordinator`).
	NATS string `mapstructure:"nats"`
	// Server is the coordinator API the CLI talks to (apply, get, describe).
	Server string `mapstructure:"server"`
	// LocalAgents is how many agents `up` runs in its process.
	LocalAgents int `mapstructure:"local_agents"`
	// Embedded configures the servers `up` runs.
	Embedded embeddedSettings `mapstructure:"embedded"`
	// Coordinator configures the coordinator.
	Coordinator coordinator.Config `mapstructure:"coordinator"`
	// Rollout is the plan of every rollout the coordinator starts.
	Rollout rolloutSettings `mapstructure:"rollout"`
	// Agent is read by `fleetprune agent`; kept here so one file serves both.
	Agent map[string]any `mapstructure:"agent"`
}

// rolloutSettings are rollout.Plan's fields as configuration keys.
type rolloutSettings struct {
	// Stages are cumulative percentages of a class's devices, ending at 100.
	Stages []float64 `mapstructure:"stages"`
	// BakeTime is the least time a stage runs before its gate may pass.
	BakeTime time.Duration `mapstructure:"bake_time"`
	// MinReports is the fewest reports a stage's gate needs.
	MinReports int `mapstructure:"min_reports"`
	// ReportTimeout is how long after BakeTime a gate waits for missing reports.
	ReportTimeout time.Duration `mapstructure:"report_timeout"`
	// LatencyConfirmations is how many slow reports in a row from one device fail a
	// gate when latency is all they break.
	LatencyConfirmations int `mapstructure:"latency_confirmations"`
}

// plan returns the settings as a rollout plan.
func (r rolloutSettings) plan() rollout.Plan {
	return rollout.Plan{
		Stages: r.Stages, BakeTime: profiles.Duration(r.BakeTime), MinReports: r.MinReports,
		ReportTimeout: profiles.Duration(r.ReportTimeout), LatencyConfirmations: r.LatencyConfirmations,
	}
}

type embeddedSettings struct {
	EtcdClientURL string `mapstructure:"etcd_client_url"`
	EtcdPeerURL   string `mapstructure:"etcd_peer_url"`
	NATSHost      string `mapstructure:"nats_host"`
	NATSPort      int    `mapstructure:"nats_port"`
}

// configDefaults are the defaults of every key, so that viper knows each key for
// environment lookup and `fleetprune config` prints them all.
func configDefaults() map[string]any {
	cc := coordinator.DefaultConfig()
	return map[string]any{
		"data_dir":                       defaultDataDir,
		"log_level":                      "info",
		"etcd":                           defaultEtcdURLs,
		"nats":                           defaultNATSURL,
		"server":                         defaultServer,
		"local_agents":                   0,
		"embedded.etcd_client_url":       defaultEtcdClientURL,
		"embedded.etcd_peer_url":         defaultEtcdPeerURL,
		"embedded.nats_host":             "127.0.0.1",
		"embedded.nats_port":             defaultNATSPort,
		"coordinator.name":               cc.Name,
		"coordinator.http_addr":          cc.HTTPAddr,
		"coordinator.key_file":           "",
		"coordinator.lease_ttl":          cc.LeaseTTL,
		"coordinator.heartbeat_interval": cc.HeartbeatInterval,
		"coordinator.stale_after":        time.Duration(0), // 0: 3 × heartbeat_interval
		"coordinator.presence_flush":     cc.PresenceFlush,
		"coordinator.max_message_bytes":  cc.MaxMessageBytes,
		"coordinator.report_batch":       cc.ReportBatch,
		"coordinator.report_ack_wait":    cc.ReportAckWait,
		"coordinator.stream_max_bytes":   cc.StreamMaxBytes,
		"coordinator.stream_replicas":    cc.StreamReplicas,
		"coordinator.report_retention":   cc.ReportRetention,
		"coordinator.compact_every":      time.Duration(0), // `up` uses 10m for its embedded etcd
		"rollout.stages":                 rollout.DefaultStages,
		"rollout.bake_time":              rollout.DefaultBakeTime,
		"rollout.min_reports":            rollout.DefaultMinReports,
		"rollout.report_timeout":         rollout.DefaultReportTimeout,
		"rollout.latency_confirmations":  rollout.DefaultLatencyConfirmations,
	}
}

// flagKeys maps command-line flag names to configuration keys.
var flagKeys = map[string]string{
	"data-dir":           "data_dir",
	"log-level":          "log_level",
	"etcd":               "etcd",
	"nats":               "nats",
	"server":             "server",
	"local-agents":       "local_agents",
	"http-addr":          "coordinator.http_addr",
	"name":               "coordinator.name",
	"key-file":           "coordinator.key_file",
	"lease-ttl":          "coordinator.lease_ttl",
	"heartbeat-interval": "coordinator.heartbeat_interval",
	"etcd-client-url":    "embedded.etcd_client_url",
	"etcd-peer-url":      "embedded.etcd_peer_url",
	"nats-port":          "embedded.nats_port",
}

// addConfigFlag adds --config to cmd.
func addConfigFlag(cmd *cobra.Command) {
	cmd.Flags().String("config", "", "YAML configuration file (see `fleetprune config`)")
}

// loadSettings builds the effective settings of cmd: defaults, then the --config
// file, then FLEETPRUNE_* variables, then the flags cmd has and the user set.
func loadSettings(cmd *cobra.Command) (*settings, *viper.Viper, error) {
	v := viper.New()
	for k, d := range configDefaults() {
		v.SetDefault(k, d)
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		v.SetConfigFile(f.Value.String())
		v.SetConfigType("yaml")
		if err := v.ReadInConfig(); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("config: read %s: %w", f.Value.String(), pe.Err)
			}
			return nil, nil, fmt.Errorf("config: %s: %w", f.Value.String(), err)
		}
	}
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if key, ok := flagKeys[f.Name]; ok && bindErr == nil {
			bindErr = v.BindPFlag(key, f)
		}
	})
	if bindErr != nil {
		return nil, nil, fmt.Errorf("config: bind flags: %w", bindErr)
	}
	var s settings
	if err := v.UnmarshalExact(&s); err != nil {
		return nil, nil, fmt.Errorf("config: %w (run `fleetprune config` to see the keys)", err)
	}
	if s.Coordinator.KeyFile == "" {
		s.Coordinator.KeyFile = filepath.Join(s.DataDir, "coordinator.key")
		v.Set("coordinator.key_file", s.Coordinator.KeyFile)
	}
	if s.Coordinator.StaleAfter == 0 {
		s.Coordinator.StaleAfter = 3 * s.Coordinator.HeartbeatInterval
		v.Set("coordinator.stale_after", s.Coordinator.StaleAfter)
	}
	if err := s.validate(); err != nil {
		return nil, nil, err
	}
	return &s, v, nil
}

func (s *settings) validate() error {
	var errs []error
	if s.DataDir == "" {
		errs = append(errs, errors.New("data_dir: must not be empty"))
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not debug, info, warn or error", s.LogLevel))
	}
	if s.LocalAgents < 0 || s.LocalAgents > 10000 {
		errs = append(errs, fmt.Errorf("local_agents: %d is outside 0..10000", s.LocalAgents))
	}
	for _, kv := range []struct{ key, val string }{
		{"server", s.Server}, {"nats", s.NATS},
		{"embedded.etcd_client_url", s.Embedded.EtcdClientURL}, {"embedded.etcd_peer_url", s.Embedded.EtcdPeerURL},
	} {
		if u, err := url.Parse(kv.val); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not a URL with a host", kv.key, kv.val))
		}
	}
	for _, e := range s.etcdEndpoints() {
		if u, err := url.Parse(e); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("etcd: %q is not a URL with a host", e))
		}
	}
	if err := s.Rollout.plan().Validate("rollout"); err != nil {
		errs = append(errs, err)
	}
	if s.Embedded.NATSPort < -1 || s.Embedded.NATSPort > 65535 {
		errs = append(errs, fmt.Errorf("embedded.nats_port: %d is outside -1..65535", s.Embedded.NATSPort))
	}
	if err := s.Coordinator.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

func (s *settings) etcdEndpoints() []string {
	var out []string
	for _, e := range strings.Split(s.Etcd, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// effectiveYAML renders v's settings as YAML, durations as Go duration strings.
func effectiveYAML(v *viper.Viper) ([]byte, error) {
	all := v.AllSettings()
	normalize(all)
	b, err := yaml.Marshal(all)
	if err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	return b, nil
}

func normalize(m map[string]any) {
	for k, val := range m {
		switch x := val.(type) {
		case map[string]any:
			normalize(x)
		case time.Duration:
			m[k] = x.String()
		}
	}
}

// sortedKeys lists the configuration keys with their environment variables.
func sortedKeys() []string {
	var keys []string
	for k := range configDefaults() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// newLogger returns a text logger to stderr at level (debug, info, warn, error).
func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
