package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/profiles"
)

func init() { subcommands = append(subcommands, newRolloutCmd) }

// dashboardClient returns a client of the coordinator's dashboard endpoints at the
// configured server (--server, FLEETPRUNE_SERVER, the config file).
func dashboardClient(cmd *cobra.Command) (*dashboard.Client, error) {
	s, _, err := loadSettings(cmd)
	if err != nil {
		return nil, err
	}
	return dashboard.NewClient(s.Server)
}

func newRolloutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout list|pause|resume|promote|abort",
		Short: "List rollouts, or pause, resume, promote or abort one",
	}
	cmd.AddCommand(newRolloutListCmd())
	for _, a := range []struct {
		action dashboard.Action
		short  string
	}{
		{dashboard.ActionPause, "Freeze a rollout: no stage moves until resume"},
		{dashboard.ActionResume, "Continue a paused rollout"},
		{dashboard.ActionPromote, "Pass the current stage's gate by hand"},
		{dashboard.ActionAbort, "End a rollout and send its devices back to the previous variant"},
	} {
		cmd.AddCommand(newRolloutActionCmd(a.action, a.short))
	}
	return cmd
}

func newRolloutListCmd() *cobra.Command {
	var class, output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List rollouts with their state and stage",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("rollout list: -o %q: want table or json", output)
			}
			if class != "" {
				if err := profiles.ValidateName(class); err != nil {
					return fmt.Errorf("rollout list: --class %q: %v", class, err)
				}
			}
			cl, err := dashboardClient(cmd)
			if err != nil {
				return err
			}
			rs, err := cl.Rollouts(cmd.Context(), class)
			if err != nil {
				return fmt.Errorf("rollout list: %w", err)
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rs)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLASS\tID\tVARIANT\tPREVIOUS\tSTATE\tSTAGE\tPASSED\tUPDATED\tMESSAGE")
			for _, r := range rs {
				stage := "-"
				if r.Stage >= 0 {
					stage = fmt.Sprintf("%d (%g%%)", r.Stage, r.StagePercent)
				}
				prev := r.Previous
				if prev == "" {
					prev = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.Class, r.ID, r.Variant, prev, r.State, stage,
					r.StagesPassed, len(r.Plan.Stages), r.UpdatedAt.Local().Format(time.DateTime), r.Message)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&class, "class", "", "only rollouts of this class")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	addClientFlags(cmd)
	return cmd
}

func newRolloutActionCmd(action dashboard.Action, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   string(action) + " CLASS ROLLOUT",
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			class, id := args[0], args[1]
			if err := profiles.ValidateName(class); err != nil {
				return fmt.Errorf("rollout %s: class %q: %v", action, class, err)
			}
			if err := profiles.ValidateName(id); err != nil {
				return fmt.Errorf("rollout %s: rollout %q: %v", action, id, err)
			}
			if len(reason) > dashboard.MaxReasonLen {
				return fmt.Errorf("rollout %s: --reason is %d bytes long, at most %d allowed", action, len(reason), dashboard.MaxReasonLen)
			}
			cl, err := dashboardClient(cmd)
			if err != nil {
				return err
			}
			if _, err := cl.RolloutAction(cmd.Context(), class, id, action, reason); err != nil {
				return fmt.Errorf("rollout %s %s/%s: %w", action, class, id, err)
			}
			r, err := cl.Rollout(cmd.Context(), class, id)
			if err != nil {
				return fmt.Errorf("rollout %s %s/%s: done, but reading it back: %w", action, class, id, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout %s/%s: %s\n%s\n", class, id, r.State, r.Message)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the rollout's history")
	addClientFlags(cmd)
	return cmd
}
