package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
)

func init() { subcommands = append(subcommands, newSensitivityCmd) }

type sensitivityFlags struct {
	dataset, plot, jsonOut, method, criterion, ratios string
	samples, workers                                  int
	valSplit                                          float64
	seed                                              uint64
}

func newSensitivityCmd() *cobra.Command {
	var f sensitivityFlags
	cmd := &cobra.Command{
		Use:   "sensitivity MODEL.onnx --data DATASET [--plot sens.png] [--json sens.json]",
		Short: "Prune each prunable layer alone at increasing ratios and record the accuracy drop",
		Example: `  fleetprune sensitivity base.onnx --data mnist --plot sens.png --json sens.json
  fleetprune sensitivity base.onnx --data mnist --method unstructured --json sens-w.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runSensitivity(cmd, args[0], f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dataset, "data", "", "dataset: mnist, fashion-mnist, a folder of IDX files or images, or a CSV file")
	fl.StringVar(&f.plot, "plot", "", "write a plot of the curves (.png, .svg or .pdf)")
	fl.StringVar(&f.jsonOut, "json", "", "write the curves as JSON for `prune --sensitivity` and the coordinator")
	fl.StringVar(&f.method, "method", "structured", "structured (channel groups) or unstructured (weights by magnitude)")
	fl.StringVar(&f.criterion, "criterion", string(prune.CriterionL1), "structured criterion: l1, l2 or bn")
	fl.StringVar(&f.ratios, "ratios", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", "comma-separated prune ratios in (0, 1)")
	fl.IntVar(&f.samples, "samples", 5000, "validation samples to evaluate on (0: the whole validation split)")
	fl.IntVar(&f.workers, "workers", 0, "parallel evaluations (0: one per core)")
	fl.Float64Var(&f.valSplit, "val-split", 1.0/12, "share of the training set held out for validation")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the validation split")
	return cmd
}

func (f sensitivityFlags) config() (sensitivity.Config, error) {
	var errs []string
	cfg := sensitivity.Config{Workers: f.workers}
	if f.dataset == "" {
		errs = append(errs, "--data is required")
	}
	switch f.method {
	case "structured":
		cfg.Structured = true
	case "unstructured":
	default:
		errs = append(errs, fmt.Sprintf("--method %q: want structured or unstructured", f.method))
	}
	c, err := prune.ParseCriterion(f.criterion)
	if err != nil || c == prune.CriterionTaylor {
		errs = append(errs, fmt.Sprintf("--criterion %q: want l1, l2 or bn", f.criterion))
	}
	cfg.Criterion = c
	for _, s := range strings.Split(f.ratios, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || !(r > 0 && r < 1) || (len(cfg.Ratios) > 0 && r <= cfg.Ratios[len(cfg.Ratios)-1]) {
			errs = append(errs, fmt.Sprintf("--ratios %q: want increasing numbers in (0, 1)", f.ratios))
			break
		}
		cfg.Ratios = append(cfg.Ratios, r)
	}
	if f.plot != "" {
		switch strings.ToLower(filepath.Ext(f.plot)) {
		case ".png", ".svg", ".pdf":
		default:
			errs = append(errs, fmt.Sprintf("--plot %q: want a .png, .svg or .pdf file", f.plot))
		}
	}
	if f.samples < 0 || f.workers < 0 {
		errs = append(errs, fmt.Sprintf("--samples %d, --workers %d: want ≥ 0", f.samples, f.workers))
	}
	if !(f.valSplit > 0 && f.valSplit < 1) {
		errs = append(errs, fmt.Sprintf("--val-split %v: want a share in (0, 1)", f.valSplit))
	}
	if len(errs) > 0 {
		return cfg, fmt.Errorf("sensitivity: %s", strings.Join(errs, "; "))
	}
	return cfg, nil
}

func runSensitivity(cmd *cobra.Command, model string, f sensitivityFlags) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	g, err := onnx.ReadFile(model)
	if err != nil {
		return err
	}
	set, err := data.Load(f.dataset, "train")
	if err != nil {
		return err
	}
	_, val, err := set.Split(f.valSplit, f.seed)
	if err != nil {
		return err
	}
	if f.samples > 0 && val.Len() > f.samples {
		idx := make([]int, f.samples)
		for i := range idx {
			idx[i] = i
		}
		val = val.Subset(val.Name, idx)
	}
	cfg.Model = filepath.Base(model)
	stderr := cmd.ErrOrStderr()
	start := time.Now()
	cfg.Progress = func(done, total int, layer string, r float64) {
		el := time.Since(start)
		eta := time.Duration(float64(el) / float64(done) * float64(total-done))
		fmt.Fprintf(stderr, "\r[%d/%d] %s at %.0f%%, ETA %s        ", done, total, layer, 100*r, eta.Round(time.Second))
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	curves, err := sensitivity.Analyze(cmd.Context(), g, val, cfg)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if err := curves.WriteTable(out); err != nil {
		return err
	}
	if f.jsonOut != "" {
		if err := curves.WriteFile(f.jsonOut); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s\n", f.jsonOut)
	}
	if f.plot != "" {
		if err := curves.WritePlot(f.plot); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s\n", f.plot)
	}
	return nil
}
