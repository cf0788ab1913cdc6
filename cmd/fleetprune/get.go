package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/coordinator"
	"github.com/fleetprune/fleetprune/profiles"
)

func init() { subcommands = append(subcommands, newGetCmd) }

func newGetCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:       "get classes|devices|models|variants",
		Short:     "List classes, devices, models or published variants",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"classes", "devices", "models", "variants"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("get: -o %q: want table or json", output)
			}
			cl, err := apiClient(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			var v any
			switch args[0] {
			case "classes", "class":
				v, err = cl.Classes(ctx)
			case "devices", "device":
				v, err = cl.Devices(ctx)
			case "models", "model":
				v, err = cl.Models(ctx)
			case "variants", "variant":
				v, err = cl.Variants(ctx, "")
			default:
				return fmt.Errorf("get: unknown kind %q: want classes, devices, models or variants", args[0])
			}
			if err != nil {
				return fmt.Errorf("get %s: %w", args[0], err)
			}
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			return printTable(out, v)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	addClientFlags(cmd)
	return cmd
}

func printTable(out io.Writer, v any) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	now := time.Now()
	switch rows := v.(type) {
	case []coordinator.ClassStatus:
		fmt.Fprintln(tw, "NAME\tPRIORITY\tSELECTOR\tBASE MODEL\tP95 SLO\tMAX DROP\tDEVICES\tLIVE\tSTALE")
		for _, c := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%.2g%%\t%d\t%d\t%d\n", c.Name, c.Priority, orDash(c.Selector.String()),
				c.BaseModel, c.SLO.P95Latency, c.SLO.MaxAccuracyDrop, c.Devices, c.LiveDevices, c.StaleDevices)
		}
	case []coordinator.DeviceStatus:
		fmt.Fprintln(tw, "ID\tCLASS\tPRESENCE\tARCH\tCORES\tMEMORY\tVARIANT\tLAST SEEN")
		for _, d := range rows {
			seen := d.LastSeen
			if d.HeartbeatAt != nil && d.HeartbeatAt.After(seen) {
				seen = *d.HeartbeatAt
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s ago\n", d.ID, orDash(d.Class), d.Presence, d.Profile.Arch,
				d.Profile.Cores, d.Profile.MemoryBytes, orDash(d.InstalledVariant), now.Sub(seen).Round(time.Second))
		}
	case []profiles.Model:
		fmt.Fprintln(tw, "NAME\tDIGEST\tDATASET\tARCH\tINPUT")
		for _, m := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", m.Name, short(m.Digest), m.Dataset, orDash(m.Arch), m.InputShape)
		}
	case []coordinator.Variant:
		fmt.Fprintln(tw, "CLASS\tVARIANT\tMODEL\tSHA256\tBYTES\tCREATED")
		for _, x := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", x.Class, x.ID, orDash(x.Model), short(x.SHA256), x.SizeBytes, x.CreatedAt.Format(time.RFC3339))
		}
	default:
		return fmt.Errorf("get: cannot print %T", v)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
