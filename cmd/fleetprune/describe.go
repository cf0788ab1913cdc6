package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/coordinator"
)

func init() { subcommands = append(subcommands, newDescribeCmd) }

func newDescribeCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "describe device ID",
		Short: "Show one device: profile, class, presence, installed variant, last report",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "device" {
				return fmt.Errorf("describe: unknown kind %q: want device", args[0])
			}
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			d, err := cl.Device(cmd.Context(), args[1])
			if err != nil {
				return fmt.Errorf("describe device %s: %w", args[1], err)
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(d)
			}
			return printDevice(cmd, d)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	addClientFlags(cmd)
	return cmd
}

func printDevice(cmd *cobra.Command, d *coordinator.DeviceDetail) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	p := d.Profile
	row := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	row("ID", d.ID)
	row("Class", orDash(d.Class))
	row("Presence", d.Presence)
	row("Registered", d.RegisteredAt.Format(time.RFC3339))
	if d.HeartbeatAt != nil {
		row("Last heartbeat", fmt.Sprintf("%s (%s ago)", d.HeartbeatAt.Format(time.RFC3339), time.Since(*d.HeartbeatAt).Round(time.Second)))
	}
	row("Installed variant", orDash(d.InstalledVariant))
	row("Previous variant", orDash(d.PreviousVariant))
	row("Agent version", orDash(d.AgentVersion))
	row("Arch / OS", p.Arch+" / "+orDash(p.OS))
	row("CPU", fmt.Sprintf("%s, %d cores, %d threads, quota %.2g", orDash(p.CPUModel), p.Cores, p.Threads, p.CPUQuota))
	row("SIMD", orDash(strings.Join(p.SIMDFlags, " ")))
	row("Memory", p.MemoryBytes)
	row("Runtimes", orDash(strings.Join(p.Runtimes, ", ")))
	var labels []string
	for k, v := range p.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	row("Labels", orDash(strings.Join(labels, ",")))
	row("Reports applied", d.ReportsApplied)
	if len(d.LastReport) > 0 {
		var r map[string]any
		if json.Unmarshal(d.LastReport, &r) == nil {
			for _, k := range []string{"kind", "variantId", "ok", "error", "p50Ns", "p95Ns", "p99Ns", "peakRssBytes", "outputChecksum", "measuredAt"} {
				if v, ok := r[k]; ok {
					row("Last report "+k, v)
				}
			}
		}
	}
	return tw.Flush()
}
