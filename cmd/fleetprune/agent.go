package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/fleetprune/fleetprune/agent"
)

func init() { subcommands = append(subcommands, newAgentCmd) }

// agentSettings is the agent's section ("agent:") of the configuration file, also
// read from FLEETPRUNE_AGENT_* variables and the agent's flags.
type agentSettings struct {
	NATS             string        `mapstructure:"nats"`
	DeviceID         string        `mapstructure:"device_id"`
	DataDir          string        `mapstructure:"data_dir"`
	Labels           string        `mapstructure:"labels"`
	Threads          int           `mapstructure:"threads"`
	CPUQuota         float64       `mapstructure:"cpu_quota"`
	MetricsAddr      string        `mapstructure:"metrics_addr"`
	PeriodicInterval time.Duration `mapstructure:"periodic_interval"`
	LogLevel         string        `mapstructure:"log_level"`
}

// agentFlagKeys maps the agent's flags to its configuration keys.
var agentFlagKeys = map[string]string{
	"nats": "nats", "device-id": "device_id", "data-dir": "data_dir", "labels": "labels",
	"threads": "threads", "cpu-quota": "cpu_quota", "metrics-addr": "metrics_addr",
	"periodic-interval": "periodic_interval", "log-level": "log_level",
}

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a device agent: register, take commands, verify, install and benchmark variants",
		Long: `Run the fleetprune agent of this device against a NATS server with JetStream.
It detects the hardware (arch, CPU model, cores, SIMD flags, memory, cgroup limits),
registers with the coordinator, sends heartbeats, takes commands from its durable
consumer (commands sent while it was away are delivered when it returns), checks
each variant's SHA-256 and the coordinator's ed25519 signature, installs atomically
under --data-dir keeping the previous variant, and reports benchmarks.

--threads limits the engine threads and GOMAXPROCS. --cpu-quota (cores, e.g. 0.5)
runs every benchmark in a worker process inside a cgroup with that CPU quota (needs
root and the cgroup v1 cpu controller or a delegated v2 group; otherwise a warning
is logged and only threads are limited).

Settings come from the "agent:" section of the --config YAML file, FLEETPRUNE_AGENT_*
variables (FLEETPRUNE_AGENT_NATS, FLEETPRUNE_AGENT_CPU_QUOTA, ...) and flags, in
rising precedence.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadAgentSettings(cmd)
			if err != nil {
				return err
			}
			return runAgent(cmd.Context(), s)
		},
	}
	addConfigFlag(cmd)
	f := cmd.Flags()
	f.String("nats", defaultNATSURL, "NATS server URL")
	f.String("device-id", "", "device id (default: stored in --data-dir, made from the hostname once)")
	f.String("data-dir", agent.DefaultDataDir, "agent state: device id, report sequence, installed variants")
	f.String("labels", "", "operator labels for class selectors, k=v,k2=v2")
	f.Int("threads", 0, "inference threads and GOMAXPROCS (0: every usable CPU, capped by --cpu-quota)")
	f.Float64("cpu-quota", 0, "CPU quota in cores for benchmarks, applied through a cgroup (0: none)")
	f.String("metrics-addr", "127.0.0.1:9101", "Prometheus /metrics listen address (\"-\" for none)")
	f.Duration("periodic-interval", 0, "benchmark the installed variant and report this often (0: off)")
	f.String("log-level", "info", "log level: debug, info, warn, error")
	cmd.AddCommand(newBenchWorkerCmd())
	return cmd
}

// newBenchWorkerCmd is the worker process the agent starts for each benchmark under
// a CPU quota; it is not meant to be run by hand.
func newBenchWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "bench-worker",
		Short:  "Run one benchmark from a JSON spec on stdin (started by the agent)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv(agent.BenchWorkerEnv) != "1" {
				return fmt.Errorf("agent bench-worker: started by the agent only (%s=1 is not set)", agent.BenchWorkerEnv)
			}
			return agent.ServeBenchWorker(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// loadAgentSettings reads defaults < the --config file's "agent:" section <
// FLEETPRUNE_AGENT_* < flags the user set, and validates the result.
func loadAgentSettings(cmd *cobra.Command) (*agentSettings, error) {
	v := viper.New()
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if key, ok := agentFlagKeys[f.Name]; ok {
			v.SetDefault(key, f.DefValue)
		}
	})
	v.SetEnvPrefix(envPrefix + "_AGENT")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	if f := cmd.Flags().Lookup("config"); f != nil && f.Value.String() != "" {
		file := viper.New()
		file.SetConfigFile(f.Value.String())
		file.SetConfigType("yaml")
		if err := file.ReadInConfig(); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("agent: config: read %s: %w", f.Value.String(), pe.Err)
			}
			return nil, fmt.Errorf("agent: config: %s: %w", f.Value.String(), err)
		}
		if sub := file.Sub("agent"); sub != nil {
			if err := v.MergeConfigMap(sub.AllSettings()); err != nil {
				return nil, fmt.Errorf("agent: config: %w", err)
			}
		}
	}
	var bindErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if key, ok := agentFlagKeys[f.Name]; ok && bindErr == nil {
			bindErr = v.BindPFlag(key, f)
		}
	})
	if bindErr != nil {
		return nil, fmt.Errorf("agent: config: bind flags: %w", bindErr)
	}
	var s agentSettings
	if err := v.UnmarshalExact(&s); err != nil {
		return nil, fmt.Errorf("agent: config: %w (keys: %s)", err, strings.Join(agentKeys(), ", "))
	}
	switch s.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, fmt.Errorf("agent: config: log_level %q is not debug, info, warn or error", s.LogLevel)
	}
	if s.MetricsAddr != "-" {
		if _, _, err := net.SplitHostPort(s.MetricsAddr); err != nil {
			return nil, fmt.Errorf("agent: config: metrics_addr %q: %w", s.MetricsAddr, err)
		}
	}
	return &s, nil
}

func agentKeys() []string {
	var keys []string
	for _, k := range agentFlagKeys {
		keys = append(keys, "agent."+k)
	}
	sort.Strings(keys)
	return keys
}

// runAgent connects to NATS, serves /metrics and runs the agent until ctx ends.
func runAgent(ctx context.Context, s *agentSettings) error {
	log := newLogger(s.LogLevel)
	labels, err := agent.ParseLabels(s.Labels)
	if err != nil {
		return fmt.Errorf("agent: --labels: %w", err)
	}
	if s.Threads > 0 {
		// This process is the agent's own: its Go scheduler gets the threads too.
		runtime.GOMAXPROCS(s.Threads)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	nc, err := nats.Connect(s.NATS, nats.Name("fleetprune-agent"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(true))
	if err != nil {
		return fmt.Errorf("agent: nats %s: %w", s.NATS, err)
	}
	defer nc.Close()
	opts := []agent.Option{
		agent.WithDataDir(s.DataDir), agent.WithLabels(labels), agent.WithThreads(s.Threads),
		agent.WithCPUQuota(s.CPUQuota), agent.WithLogger(log), agent.WithMetrics(reg),
		agent.WithPeriodicReports(s.PeriodicInterval), agent.WithBenchWorker(exe, "agent", "bench-worker"),
	}
	if s.DeviceID != "" {
		opts = append(opts, agent.WithDeviceID(s.DeviceID))
	}
	a, err := agent.New(nc, opts...)
	if err != nil {
		return err
	}
	if s.MetricsAddr != "-" {
		srv := &http.Server{Addr: s.MetricsAddr, Handler: metricsMux(reg), ReadHeaderTimeout: 5 * time.Second}
		ln, err := net.Listen("tcp", s.MetricsAddr)
		if err != nil {
			return fmt.Errorf("agent: metrics: %w", err)
		}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	p := a.Profile()
	log.Info("agent starting", "device", a.ID(), "nats", s.NATS, "arch", p.GetArch(), "cpu", p.GetCpuModel(),
		"cores", p.GetCores(), "threads", p.GetThreads(), "cpu_quota", p.GetCpuQuota(), "labels", p.GetLabels(), "metrics", s.MetricsAddr)
	return a.Run(ctx)
}

func metricsMux(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
