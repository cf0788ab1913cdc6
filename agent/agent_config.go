package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// Defaults of an agent's options.
const (
	// DefaultRegisterTimeout bounds one registration request.
	DefaultRegisterTimeout = 5 * time.Second
	// DefaultRetryMin and DefaultRetryMax bound the exponential backoff between
	// failed registrations, consumer setups and fetches.
	DefaultRetryMin = 200 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	// DefaultHeartbeatInterval is used until the coordinator's reply names one.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultWarmupRuns and DefaultTimedRuns are used when a command leaves them 0.
	DefaultWarmupRuns = 5
	DefaultTimedRuns  = 50
	// DefaultBatchSize is the benchmark batch size when a command leaves it 0.
	DefaultBatchSize = 1
	// DefaultAckWait is how long the server waits for the ack of a command before
	// it redelivers; the agent signals progress during long benchmarks.
	DefaultAckWait = 2 * time.Minute
	// DefaultMaxCommandBytes bounds a command message; larger ones are refused.
	DefaultMaxCommandBytes = 1 << 20
	// DefaultMaxArtifactBytes bounds a model artifact an agent downloads.
	DefaultMaxArtifactBytes = 512 << 20
	// DefaultDataDir is where an agent keeps its state when none is given.
	DefaultDataDir = "./.fleetprune-agent"
	// Version is reported at registration.
	Version = "fleetprune-agent/0.1"
)

// ErrConfig marks an invalid option.
var ErrConfig = errors.New("agent: invalid configuration")

// namePattern is what a device id or class name may look like: one NATS subject
// token, one etcd key segment (the coordinator applies the same rule).
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// Option configures an Agent.
type Option func(*config)

type config struct {
	deviceID          string
	dataDir           string
	labels            map[string]string
	threads           int
	cpuQuota          float64
	log               *slog.Logger
	registerTimeout   time.Duration
	retryMin          time.Duration
	retryMax          time.Duration
	heartbeatInterval time.Duration
	periodicInterval  time.Duration
	warmupRuns        int
	timedRuns         int
	ackWait           time.Duration
	maxCommandBytes   int
	maxArtifactBytes  int64
	registerer        prometheus.Registerer
	workerArgv        []string
	hardware          *fpv1.HardwareProfile
	gate              *BenchGate
}

func defaultConfig() config {
	return config{
		dataDir:           DefaultDataDir,
		log:               slog.Default(),
		registerTimeout:   DefaultRegisterTimeout,
		retryMin:          DefaultRetryMin,
		retryMax:          DefaultRetryMax,
		heartbeatInterval: DefaultHeartbeatInterval,
		warmupRuns:        DefaultWarmupRuns,
		timedRuns:         DefaultTimedRuns,
		ackWait:           DefaultAckWait,
		maxCommandBytes:   DefaultMaxCommandBytes,
		maxArtifactBytes:  DefaultMaxArtifactBytes,
	}
}

// WithDeviceID sets the device id. Without it the agent uses the id stored in its
// data dir, or makes one from the hostname and stores it.
func WithDeviceID(id string) Option { return func(c *config) { c.deviceID = id } }

// WithDataDir sets the directory of the agent's state: device id, report sequence,
// installed variants.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithLabels sets the operator labels sent in the hardware profile (see ParseLabels).
func WithLabels(labels map[string]string) Option {
	return func(c *config) { c.labels = labels }
}

// WithThreads sets the engine threads of benchmarks (and GOMAXPROCS of a benchmark
// worker process). 0 means every usable CPU.
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithCPUQuota limits benchmarks to quota cores of CPU time through a cgroup (see
// ServeBenchWorker). 0 means no quota. Where no writable cgroup CPU controller
// exists, the agent logs a warning and limits threads only.
func WithCPUQuota(quota float64) Option { return func(c *config) { c.cpuQuota = quota } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithRegisterTimeout bounds one registration request.
func WithRegisterTimeout(d time.Duration) Option {
	return func(c *config) { c.registerTimeout = d }
}

// WithRetryBackoff sets the bounds of the exponential backoff between retries.
func WithRetryBackoff(lo, hi time.Duration) Option {
	return func(c *config) { c.retryMin, c.retryMax = lo, hi }
}

// WithHeartbeatInterval sets the heartbeat period used until a registration reply
// names one.
func WithHeartbeatInterval(d time.Duration) Option {
	return func(c *config) { c.heartbeatInterval = d }
}

// WithPeriodicReports makes the agent benchmark its installed variant every d and
// publish a "periodic" report. 0 (the default) turns it off.
func WithPeriodicReports(d time.Duration) Option {
	return func(c *config) { c.periodicInterval = d }
}

// WithBenchmarkRuns sets the warm-up and timed runs used when a command leaves them
// 0, and by periodic reports.
func WithBenchmarkRuns(warmup, timed int) Option {
	return func(c *config) { c.warmupRuns, c.timedRuns = warmup, timed }
}

// WithAckWait sets the consumer's ack wait for commands.
func WithAckWait(d time.Duration) Option { return func(c *config) { c.ackWait = d } }

// WithMaxCommandBytes bounds accepted command messages.
func WithMaxCommandBytes(n int) Option { return func(c *config) { c.maxCommandBytes = n } }

// WithMaxArtifactBytes bounds downloaded model artifacts.
func WithMaxArtifactBytes(n int64) Option {
	return func(c *config) { c.maxArtifactBytes = n }
}

// WithMetrics registers the agent's metrics with r. Agents sharing a registry in one
// process share the metric families, told apart by their device label.
func WithMetrics(r prometheus.Registerer) Option { return func(c *config) { c.registerer = r } }

// WithBenchWorker runs every benchmark in a child process started from argv (for
// the fleetprune binary: itself with "agent", "bench-worker"), which is also where a
// CPU quota applies. Without it a CPU quota starts the agent's own executable, which
// must then serve the worker (RunBenchWorkerIfRequested in a test binary's TestMain).
func WithBenchWorker(argv ...string) Option {
	return func(c *config) { c.workerArgv = append([]string(nil), argv...) }
}

// WithHardware replaces hardware detection with the given profile, for simulated
// devices; labels, threads and quota from the options still apply.
func WithHardware(p *fpv1.HardwareProfile) Option { return func(c *config) { c.hardware = p } }

// WithBenchGate makes the agent take a slot of g for every benchmark, so that local
// agents sharing a machine do not measure each other.
func WithBenchGate(g *BenchGate) Option { return func(c *config) { c.gate = g } }

func (c *config) validate() error {
	var errs []error
	if c.deviceID != "" && !namePattern.MatchString(c.deviceID) {
		errs = append(errs, fmt.Errorf("device id %q: want 1-128 letters, digits, '_' or '-', starting alphanumeric", c.deviceID))
	}
	if c.dataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	for k, v := range c.labels {
		if err := checkLabel(k, v); err != nil {
			errs = append(errs, fmt.Errorf("labels: %w", err))
		}
	}
	if c.threads < 0 || c.threads > 1024 {
		errs = append(errs, fmt.Errorf("threads %d, want 0..1024", c.threads))
	}
	if c.cpuQuota < 0 || c.cpuQuota > 1024 || c.cpuQuota != c.cpuQuota {
		errs = append(errs, fmt.Errorf("cpu quota %g cores, want 0..1024", c.cpuQuota))
	}
	if c.cpuQuota > 0 && c.cpuQuota < 0.01 {
		errs = append(errs, fmt.Errorf("cpu quota %g cores, want at least 0.01", c.cpuQuota))
	}
	if c.log == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	for name, d := range map[string]time.Duration{
		"register timeout": c.registerTimeout, "retry min": c.retryMin, "retry max": c.retryMax,
		"heartbeat interval": c.heartbeatInterval, "ack wait": c.ackWait,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s, want > 0", name, d))
		}
	}
	if c.retryMax < c.retryMin {
		errs = append(errs, fmt.Errorf("retry max %s < retry min %s", c.retryMax, c.retryMin))
	}
	if c.periodicInterval < 0 {
		errs = append(errs, fmt.Errorf("periodic interval %s, want >= 0", c.periodicInterval))
	}
	if c.warmupRuns < 0 || c.warmupRuns > MaxWarmupRuns {
		errs = append(errs, fmt.Errorf("warm-up runs %d, want 0..%d", c.warmupRuns, MaxWarmupRuns))
	}
	if c.timedRuns < 1 || c.timedRuns > MaxTimedRuns {
		errs = append(errs, fmt.Errorf("timed runs %d, want 1..%d", c.timedRuns, MaxTimedRuns))
	}
	if c.maxCommandBytes < 1 {
		errs = append(errs, fmt.Errorf("max command bytes %d, want > 0", c.maxCommandBytes))
	}
	if c.maxArtifactBytes < 1 {
		errs = append(errs, fmt.Errorf("max artifact bytes %d, want > 0", c.maxArtifactBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	return nil
}
