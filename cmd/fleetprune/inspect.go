package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/onnx"
)

func init() { subcommands = append(subcommands, newInspectCmd) }

func newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "inspect MODEL.onnx",
		Short:   "Print each layer of an ONNX model with its shape, parameters, MACs and bytes",
		Example: "  fleetprune inspect base.onnx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := onnx.ReadFile(args[0])
			if err != nil {
				return err
			}
			r, err := metrics.Measure(g)
			if err != nil {
				return fmt.Errorf("inspect %s: %w", args[0], err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: graph %q, opset %d, %d nodes\n", args[0], g.Name, g.Opset, len(g.Nodes))
			for _, v := range g.Inputs {
				fmt.Fprintf(out, "input  %s %v\n", v.Name, shapeWithBatch(v.Shape))
			}
			for _, v := range g.Outputs {
				fmt.Fprintf(out, "output %s %v\n", v.Name, shapeWithBatch(v.Shape))
			}
			fmt.Fprintln(out, "MACs are per sample; bytes are float32 parameters, dense and as CSR.")
			return r.WriteTable(out)
		},
	}
}

// shapeWithBatch prints a value shape with "N" for dynamic dimensions.
func shapeWithBatch(s []int) []string {
	out := make([]string, len(s))
	for i, d := range s {
		if d < 0 {
			out[i] = "N"
		} else {
			out[i] = fmt.Sprint(d)
		}
	}
	return out
}
