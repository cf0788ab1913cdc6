// Command fleet is the control-plane benchmark of issue 4: it starts the embedded
// etcd and NATS servers and a coordinator in this process, then many agents, each
// with its own NATS connection, and prints registrations/s and reports ingested/s.
//
//	nice -n 10 go run ./bench/fleet -agents 1000
//
// With -mode sim (the default) the agents are lean clients speaking the real wire
// protocol (RegisterRequest, Heartbeat, Report on JetStream); with -mode agent they
// are the agent package's agents (hardware detection, durable command consumer,
// heartbeats), which register but send reports only when commanded, so the report
// phase is always played by the lean clients.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/internal/embedded"
)

func main() {
	agents := flag.Int("agents", 1000, "agents, each with its own NATS connection")
	reports := flag.Int("reports", 10, "reports each agent publishes in the report phase")
	mode := flag.String("mode", "sim", "agents: sim (lean protocol clients) or agent (the agent package)")
	hb := flag.Duration("heartbeat", time.Second, "heartbeat interval of the agents during the report phase")
	dir := flag.String("dir", "", "data directory (default: a temporary one, removed after)")
	fsync := flag.Bool("fsync", true, "keep etcd's fsync on, as `fleetprune up` does")
	verbose := flag.Bool("v", false, "log the coordinator at debug level")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *agents < 1 || *reports < 0 || (*mode != "sim" && *mode != "agent") {
		fmt.Fprintln(os.Stderr, "fleet: -agents must be >= 1, -reports >= 0, -mode sim or agent")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, params{agents: *agents, reports: *reports, mode: *mode, heartbeat: *hb, dir: *dir, fsync: *fsync, verbose: *verbose}); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type params struct {
	agents, reports int
	mode            string
	heartbeat       time.Duration
	dir             string
	fsync, verbose  bool
}

func run(ctx context.Context, p params) error {
	dir := p.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fleetprune-bench-fleet-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if p.verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	var eopts []embedded.EtcdOption
	if !p.fsync {
		eopts = append(eopts, embedded.WithEtcdUnsafeNoFsync())
	}
	etcd, err := embedded.StartEtcd(ctx, dir, eopts...)
	if err != nil {
		return err
	}
	defer etcd.Close()
	ns, err := embedded.StartNATS(ctx, dir)
	if err != nil {
		return err
	}
	defer ns.Close()
	cli, err := etcd.Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	nc, err := ns.Connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	key, err := coordinator.LoadOrCreateSigningKey(filepath.Join(dir, "coordinator.key"))
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	c, err := coordinator.New(cli, nc, key, coordinator.WithLogger(log), coordinator.WithRegistry(reg), coordinator.WithConfig(coordinator.Config{
		Name: "bench", HTTPAddr: "127.0.0.1:0", HeartbeatInterval: p.heartbeat,
	}))
	if err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	defer func() {
		cancel()
		<-done
	}()

	fmt.Printf("fleet benchmark: %d agents (%s), %d reports each, GOMAXPROCS=%d, etcd fsync %v\n",
		p.agents, p.mode, p.reports, runtime.GOMAXPROCS(0), p.fsync)
	b := &bench{p: p, c: c, reg: reg, ns: ns, dir: dir, log: log}
	return b.run(ctx)
}
