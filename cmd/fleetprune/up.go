package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/agent"
	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/internal/embedded"
)

func init() { subcommands = append(subcommands, newUpCmd) }

func newUpCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole fleet on this machine: embedded etcd and NATS, the coordinator, local agents",
		Long: `Run, in this process, an embedded etcd server, an embedded NATS server with
JetStream, the coordinator with its HTTP API (default http://127.0.0.1:8080) and
--local-agents agents. Everything is stored under --data-dir (default ./.fleetprune),
so running up again continues with the same classes, devices and models. Ctrl-C stops
everything cleanly. Agents on other machines connect with
` + "`fleetprune agent --nats nats://HOST:4222`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			return runUp(cmd.Context(), s, newLogger(s.LogLevel), nil)
		},
	}
	addConfigFlag(cmd)
	addServerFlags(cmd)
	fs := cmd.Flags()
	fs.Int("local-agents", 0, "agents to run in this process, each with its own NATS connection")
	fs.String("etcd-client-url", defaultEtcdClientURL, "embedded etcd client URL")
	fs.String("etcd-peer-url", defaultEtcdPeerURL, "embedded etcd peer URL")
	fs.Int("nats-port", defaultNATSPort, "embedded NATS client port (-1 picks a free one)")
	return cmd
}

// upCompactEvery is how often `up` compacts its embedded etcd's history.
const upCompactEvery = 10 * time.Minute

// upStack is what runUp started; ready receives it once everything runs, for tests.
type upStack struct {
	Etcd        *embedded.Etcd
	NATS        *embedded.NATS
	Coordinator *coordinator.Coordinator
	// APIAddr is where the dashboard and the API listen.
	APIAddr string
}

// runUp starts the embedded stack and blocks until ctx ends, then stops agents,
// coordinator, NATS and etcd in that order.
func runUp(ctx context.Context, s *settings, log *slog.Logger, ready func(*upStack)) (err error) {
	if s.Coordinator.CompactEvery == 0 {
		// The embedded etcd has no auto-compaction: the leader compacts its history.
		s.Coordinator.CompactEvery = upCompactEvery
	}
	etcd, err := embedded.StartEtcd(ctx, s.DataDir,
		embedded.WithEtcdClientURL(s.Embedded.EtcdClientURL), embedded.WithEtcdPeerURL(s.Embedded.EtcdPeerURL))
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer func() { err = errors.Join(err, etcd.Close()) }()
	ns, err := embedded.StartNATS(ctx, s.DataDir,
		embedded.WithNATSHost(s.Embedded.NATSHost), embedded.WithNATSPort(s.Embedded.NATSPort))
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer func() { err = errors.Join(err, ns.Close()) }()

	cli, err := etcd.Client(ctx)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer cli.Close()
	nc, err := ns.Connect(nats.Name("fleetprune-coordinator"))
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	defer nc.Close()
	key, err := coordinator.LoadOrCreateSigningKey(s.Coordinator.KeyFile)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	// Local agents benchmark on the cores the tuning workbench trains on: one gate
	// keeps a fine-tune from skewing a benchmark that tuning then acts on.
	gate := agent.NewBenchGate(1)
	n, err := newNode(cli, nc, key, s, log, gate)
	if err != nil {
		return fmt.Errorf("up: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := n.run(runCtx); err != nil {
			errc <- err
			cancel()
		}
	}()
	for i := range s.LocalAgents {
		id := fmt.Sprintf("local-%d", i+1)
		anc, err := ns.Connect(nats.Name("fleetprune-agent-"+id), nats.MaxReconnects(-1))
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("up: agent %s: %w", id, err)
		}
		a, err := agent.New(anc,
			agent.WithDeviceID(id),
			agent.WithDataDir(filepath.Join(s.DataDir, "agents", id)),
			agent.WithLogger(log.With("agent", id)),
			agent.WithBenchGate(gate))
		if err != nil {
			anc.Close()
			cancel()
			wg.Wait()
			return fmt.Errorf("up: agent %s: %w", id, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer anc.Close()
			if err := a.Run(runCtx); err != nil {
				log.Error("agent stopped", "agent", id, "err", err)
			}
		}()
	}
	log.Info("fleetprune is up", "dashboard", "http://"+n.apiAddr+"/", "nats", ns.ClientURL(),
		"etcd", etcd.Endpoints(), "data_dir", s.DataDir, "local_agents", s.LocalAgents)
	if ready != nil {
		ready(&upStack{Etcd: etcd, NATS: ns, Coordinator: n.c, APIAddr: n.apiAddr})
	}
	<-runCtx.Done()
	wg.Wait()
	log.Info("fleetprune stopped")
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}
