package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/train"
)

func init() { subcommands = append(subcommands, newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var dataset, split string
	var top int
	cmd := &cobra.Command{
		Use:     "eval MODEL.onnx --data DATASET",
		Short:   "Evaluate an ONNX model: accuracy, loss and a confusion summary",
		Example: "  fleetprune eval base.onnx --data fashion-mnist",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dataset == "" {
				return fmt.Errorf("eval: --data is required (mnist, fashion-mnist, a folder or a CSV file)")
			}
			split = strings.ToLower(split)
			if split != "train" && split != "test" {
				return fmt.Errorf("eval: --split %q: want train or test", split)
			}
			if top < 0 {
				return fmt.Errorf("eval: --top %d: want ≥ 0", top)
			}
			g, err := onnx.ReadFile(args[0])
			if err != nil {
				return err
			}
			set, err := data.Load(dataset, split)
			if err != nil {
				return err
			}
			start := time.Now()
			acc, loss, confusion, err := train.Evaluate(cmd.Context(), g, set)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s on %s/%s: accuracy %.2f%%, loss %.4f (%d samples, %s)\n",
				args[0], dataset, split, 100*acc, loss, set.Len(), time.Since(start).Round(time.Millisecond))
			names := set.ClassNames
			if names == nil {
				names = data.ClassNames(dataset)
			}
			return metrics.Confusion(confusion).WriteSummary(out, names, top)
		},
	}
	cmd.Flags().StringVar(&dataset, "data", "", "dataset: mnist, fashion-mnist, a folder of IDX files or images, or a CSV file")
	cmd.Flags().StringVar(&split, "split", "test", "split to evaluate: train or test")
	cmd.Flags().IntVar(&top, "top", 5, "how many most-confused class pairs to print")
	return cmd
}
