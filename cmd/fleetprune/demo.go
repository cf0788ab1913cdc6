package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/internal/demo"
)

func init() { subcommands = append(subcommands, newDemoCmd) }

func newDemoCmd() *cobra.Command {
	var cfg demo.Config
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole loop on this machine: train, tune per device class on local agents, roll out",
		Long: `Train (or load from --dir) a LeNet-5 base model on MNIST, start an embedded fleet
with three device classes played by local agents under real CPU limits (1 thread
under a 0.5-core cgroup quota, 1 thread, 2 threads), tune a pruned variant per class
on the agents' own measurements until its SLO holds or a verdict says why it cannot,
roll accepted variants out in canary stages, and print one table per class. Exits 0
only when every class reached a verdict.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelError
			if verbose {
				level = slog.LevelInfo
			}
			cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			cfg.Out = cmd.OutOrStdout()
			_, err := demo.Run(cmd.Context(), cfg)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.Dir, "dir", demo.DefaultDir, "folder for the cached base model and each run's fleet state")
	fs.IntVar(&cfg.TrainSamples, "train-samples", demo.DefaultTrainSamples, "MNIST training samples for the base model")
	fs.IntVar(&cfg.Epochs, "epochs", demo.DefaultEpochs, "training epochs for the base model")
	fs.IntVar(&cfg.AgentsPerClass, "agents-per-class", demo.DefaultAgentsPerClass, "local agents per device class")
	fs.StringVar(&cfg.HTTPAddr, "http", "127.0.0.1:8080", `serve the coordinator's API and dashboard here while the demo runs ("-": off)`)
	fs.DurationVar(&cfg.Timeout, "timeout", demo.DefaultTimeout, "give up when not every class has a verdict by then")
	fs.BoolVar(&verbose, "verbose", false, "log what the coordinator and agents do")
	return cmd
}
