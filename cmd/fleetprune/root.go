package main

import (
	"github.com/spf13/cobra"
)

// subcommands is filled by each subcommand's file in init, so that every subcommand
// lives in a file of its own.
var subcommands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "fleetprune",
		Short:         "Prune neural networks per device class, prove them on the devices, roll them out",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, sub := range subcommands {
		root.AddCommand(sub())
	}
	return root
}
