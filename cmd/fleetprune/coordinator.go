package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fleetprune/fleetprune/coordinator"
)

func init() { subcommands = append(subcommands, newCoordinatorCmd) }

func newCoordinatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "coordinator",
		Short: "Run a coordinator against an external etcd and NATS (production; run two or more)",
		Long: `Run one coordinator against an etcd cluster and a NATS cluster with JetStream.
Coordinators elect a leader through etcd; the leader sets up the streams and the model
bucket, answers agents, ingests reports and writes state, each write fenced on its
leadership. Standbys serve the read side of the HTTP API and take over within the
lease TTL when the leader dies. All coordinators must share one signing key file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, _, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			log := newLogger(s.LogLevel)
			ctx := cmd.Context()
			cli, err := clientv3.New(clientv3.Config{
				Endpoints: s.etcdEndpoints(), DialTimeout: 10 * time.Second, Context: ctx, Logger: zap.NewNop(),
			})
			if err != nil {
				return fmt.Errorf("coordinator: etcd %v: %w", s.etcdEndpoints(), err)
			}
			defer cli.Close()
			nc, err := nats.Connect(s.NATS, nats.Name("fleetprune-coordinator-"+s.Coordinator.Name), nats.MaxReconnects(-1))
			if err != nil {
				return fmt.Errorf("coordinator: nats %s: %w", s.NATS, err)
			}
			defer nc.Close()
			key, err := coordinator.LoadOrCreateSigningKey(s.Coordinator.KeyFile)
			if err != nil {
				return err
			}
			c, err := coordinator.New(cli, nc, key, coordinator.WithConfig(s.Coordinator), coordinator.WithLogger(log))
			if err != nil {
				return err
			}
			log.Info("coordinator starting", "name", s.Coordinator.Name, "etcd", s.etcdEndpoints(), "nats", s.NATS, "http", s.Coordinator.HTTPAddr)
			return c.Run(ctx)
		},
	}
	addConfigFlag(cmd)
	addServerFlags(cmd)
	cmd.Flags().String("etcd", defaultEtcdURLs, "etcd client URLs, comma-separated")
	cmd.Flags().String("nats", defaultNATSURL, "NATS server URL")
	return cmd
}
