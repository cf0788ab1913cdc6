package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() { subcommands = append(subcommands, newConfigCmd) }

func newConfigCmd() *cobra.Command {
	var env bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the effective configuration (defaults < --config file < FLEETPRUNE_* < flags)",
		Long: `Print the configuration the server commands would run with, after reading the
defaults, the YAML file given by --config, FLEETPRUNE_* environment variables (key
with dots as underscores: coordinator.lease_ttl is FLEETPRUNE_COORDINATOR_LEASE_TTL)
and flags. With --env, list every key with its environment variable instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if env {
				for _, k := range sortedKeys() {
					fmt.Fprintf(cmd.OutOrStdout(), "%-34s %s\n", k, envName(k))
				}
				return nil
			}
			_, v, err := loadSettings(cmd)
			if err != nil {
				return err
			}
			b, err := effectiveYAML(v)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	addConfigFlag(cmd)
	addServerFlags(cmd)
	cmd.Flags().BoolVar(&env, "env", false, "list the keys and their environment variables")
	return cmd
}

// addServerFlags adds the flags of the server-side commands (up, coordinator,
// config). Each overrides its configuration key only when given.
func addServerFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	d := configDefaults()
	fs.String("data-dir", defaultDataDir, "data directory: embedded etcd and NATS, signing key, local agents")
	fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.String("http-addr", fmt.Sprint(d["coordinator.http_addr"]), "HTTP API listen address (\"-\" for none)")
	fs.String("name", fmt.Sprint(d["coordinator.name"]), "coordinator name in the leader election")
	fs.String("key-file", "", "ed25519 signing key file (default <data-dir>/coordinator.key, created 0600)")
	fs.Duration("lease-ttl", 0, "leadership lease TTL (default 5s)")
	fs.Duration("heartbeat-interval", 0, "heartbeat interval told to agents (default 5s)")
}
