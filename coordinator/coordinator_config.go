package coordinator

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Defaults of a Coordinator.
const (
	// DefaultHTTPAddr is where the HTTP API listens.
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultLeaseTTL is the etcd session TTL of leadership: a dead leader is replaced
	// within it.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultHeartbeatInterval is the heartbeat period told to agents at registration.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultStaleAfter is how long a device may stay silent before it shows as stale.
	DefaultStaleAfter = 3 * DefaultHeartbeatInterval
	// DefaultPresenceFlush is how often the leader writes heartbeat times to etcd.
	DefaultPresenceFlush = 2 * time.Second
	// DefaultMaxMessageBytes is the largest register, heartbeat or report message
	// accepted; larger ones are rejected unread.
	DefaultMaxMessageBytes = 64 << 10
	// DefaultReportBatch is how many reports one fetch pulls.
	DefaultReportBatch = 1024
	// DefaultReportAckWait is how long JetStream waits for a report's ack before it
	// redelivers the report.
	DefaultReportAckWait = 30 * time.Second
	// DefaultCommandMaxAge bounds how long a command stays in FLEET_CMD.
	DefaultCommandMaxAge = 7 * 24 * time.Hour
	// DefaultReportMaxAge bounds how long a report stays in FLEET_REPORT.
	DefaultReportMaxAge = 7 * 24 * time.Hour
	// DefaultStreamMaxBytes bounds each stream's size on disk.
	DefaultStreamMaxBytes = 1 << 30
	// DefaultDuplicateWindow is how long JetStream remembers message ids (Nats-Msg-Id)
	// to drop re-published duplicates.
	DefaultDuplicateWindow = 10 * time.Minute
	// DefaultReportConsumer is the durable name of the coordinators' report consumer.
	DefaultReportConsumer = "coordinator"
	// DefaultReportRetention is how long applied reports stay in etcd.
	DefaultReportRetention = 24 * time.Hour
	// DefaultRequestTimeout bounds one etcd or NATS call when the caller's context has
	// no deadline.
	DefaultRequestTimeout = 10 * time.Second
)

// Config is the configuration of a Coordinator. The zero value of a field means its
// default; Validate reports fields that cannot work.
type Config struct {
	// Name identifies this coordinator in the election (default: hostname-pid).
	Name string `mapstructure:"name" json:"name"`
	// HTTPAddr is the listen address of the HTTP API; "-" turns the API off.
	HTTPAddr string `mapstructure:"http_addr" json:"http_addr"`
	// KeyFile holds the ed25519 signing key (PEM, 0600); generated when missing.
	KeyFile string `mapstructure:"key_file" json:"key_file"`
	// LeaseTTL is the leadership session TTL, in whole seconds of at least 1s.
	LeaseTTL time.Duration `mapstructure:"lease_ttl" json:"lease_ttl"`
	// HeartbeatInterval is the heartbeat period agents are told to use.
	HeartbeatInterval time.Duration `mapstructure:"heartbeat_interval" json:"heartbeat_interval"`
	// StaleAfter is the silence after which a device shows as stale.
	StaleAfter time.Duration `mapstructure:"stale_after" json:"stale_after"`
	// PresenceFlush is how often heartbeat times are written to etcd.
	PresenceFlush time.Duration `mapstructure:"presence_flush" json:"presence_flush"`
	// MaxMessageBytes is the largest wire message accepted.
	MaxMessageBytes int `mapstructure:"max_message_bytes" json:"max_message_bytes"`
	// ReportBatch is how many reports one fetch pulls.
	ReportBatch int `mapstructure:"report_batch" json:"report_batch"`
	// ReportAckWait is JetStream's redelivery delay for unacked reports.
	ReportAckWait time.Duration `mapstructure:"report_ack_wait" json:"report_ack_wait"`
	// StreamMaxBytes bounds each stream's size.
	StreamMaxBytes int64 `mapstructure:"stream_max_bytes" json:"stream_max_bytes"`
	// StreamReplicas is the replica count of streams and the bucket (1 for one server).
	StreamReplicas int `mapstructure:"stream_replicas" json:"stream_replicas"`
	// ReportRetention is how long applied reports stay under reports/ in etcd; they
	// are put under a lease of that length. Each device's last report stays.
	ReportRetention time.Duration `mapstructure:"report_retention" json:"report_retention"`
	// CompactEvery, when positive, makes the leader compact etcd's history every
	// CompactEvery to the revision of one period before (for an etcd without its own
	// auto-compaction, such as the embedded one of `fleetprune up`).
	CompactEvery time.Duration `mapstructure:"compact_every" json:"compact_every"`
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "coordinator"
	}
	return Config{
		Name:              fmt.Sprintf("%s-%d", host, os.Getpid()),
		HTTPAddr:          DefaultHTTPAddr,
		LeaseTTL:          DefaultLeaseTTL,
		HeartbeatInterval: DefaultHeartbeatInterval,
		StaleAfter:        DefaultStaleAfter,
		PresenceFlush:     DefaultPresenceFlush,
		MaxMessageBytes:   DefaultMaxMessageBytes,
		ReportBatch:       DefaultReportBatch,
		ReportAckWait:     DefaultReportAckWait,
		StreamMaxBytes:    DefaultStreamMaxBytes,
		StreamReplicas:    1,
		ReportRetention:   DefaultReportRetention,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Name == "" {
		c.Name = d.Name
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = d.HTTPAddr
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = d.LeaseTTL
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 3 * c.HeartbeatInterval
	}
	if c.PresenceFlush == 0 {
		c.PresenceFlush = d.PresenceFlush
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.ReportBatch == 0 {
		c.ReportBatch = d.ReportBatch
	}
	if c.ReportAckWait == 0 {
		c.ReportAckWait = d.ReportAckWait
	}
	if c.StreamMaxBytes == 0 {
		c.StreamMaxBytes = d.StreamMaxBytes
	}
	if c.StreamReplicas == 0 {
		c.StreamReplicas = d.StreamReplicas
	}
	if c.ReportRetention == 0 {
		c.ReportRetention = d.ReportRetention
	}
	return c
}

// Validate reports every field that cannot work, each error naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease_ttl: %s is below 1s", c.LeaseTTL))
	}
	if c.HeartbeatInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat_interval: %s is below 10ms", c.HeartbeatInterval))
	}
	if c.StaleAfter < c.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("stale_after: %s is shorter than heartbeat_interval %s", c.StaleAfter, c.HeartbeatInterval))
	}
	if c.PresenceFlush <= 0 {
		errs = append(errs, fmt.Errorf("presence_flush: %s must be positive", c.PresenceFlush))
	}
	if c.MaxMessageBytes < 1024 {
		errs = append(errs, fmt.Errorf("max_message_bytes: %d is below 1024", c.MaxMessageBytes))
	}
	if c.ReportBatch < 1 || c.ReportBatch > 10000 {
		errs = append(errs, fmt.Errorf("report_batch: %d is outside 1..10000", c.ReportBatch))
	}
	if c.ReportAckWait < time.Second {
		errs = append(errs, fmt.Errorf("report_ack_wait: %s is below 1s", c.ReportAckWait))
	}
	if c.StreamMaxBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("stream_max_bytes: %d is below 1 MiB", c.StreamMaxBytes))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("stream_replicas: %d is outside 1..5", c.StreamReplicas))
	}
	if c.ReportRetention < time.Minute {
		errs = append(errs, fmt.Errorf("report_retention: %s is below 1m", c.ReportRetention))
	}
	if c.CompactEvery < 0 || c.CompactEvery > 0 && c.CompactEvery < time.Minute {
		errs = append(errs, fmt.Errorf("compact_every: %s: want 0 (off) or at least 1m", c.CompactEvery))
	}
	if len(errs) > 0 {
		return fmt.Errorf("coordinator config: %w", errors.Join(errs...))
	}
	return nil
}

// Option configures New.
type Option func(*options)

type options struct {
	cfg      Config
	logger   *slog.Logger
	registry prometheus.Registerer
	gatherer prometheus.Gatherer
	onReport func(*fpv1.Report)
}

// WithConfig sets the whole configuration; zero fields take their defaults.
func WithConfig(c Config) Option { return func(o *options) { o.cfg = c } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegistry sets the Prometheus registry the coordinator's metrics are registered
// in and served from on /metrics (default: a fresh registry of its own).
func WithRegistry(r *prometheus.Registry) Option {
	return func(o *options) { o.registry, o.gatherer = r, r }
}

// WithReportHook sets a function called with every report after it was applied to
// etcd (never for duplicates or rejected reports). It runs on the ingest goroutine:
// it must only enqueue work, like a reconciler's event handler.
func WithReportHook(f func(*fpv1.Report)) Option { return func(o *options) { o.onReport = f } }
