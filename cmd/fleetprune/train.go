package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/train"
)

func init() { subcommands = append(subcommands, newTrainCmd) }

type trainFlags struct {
	arch, dataset, out, optimizer, schedule, checkpointDir string
	epochs, batch, threads, patience                       int
	lr, weightDecay, valSplit                              float64
	seed                                                   uint64
}

func newTrainCmd() *cobra.Command {
	var f trainFlags
	cmd := &cobra.Command{
		Use:   "train --arch ARCH --data DATASET --out MODEL.onnx",
		Short: "Train a built-in architecture on a dataset and save it as ONNX",
		Example: `  fleetprune train --arch lenet-300-100 --data mnist --epochs 10 --out base.onnx
  fleetprune train --arch lenet-5 --data ./digits --optimizer adam --lr 0.001 --schedule cosine --out lenet5.onnx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runTrain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.arch, "arch", "", "architecture: "+strings.Join(models.Archs(), ", "))
	fl.StringVar(&f.dataset, "data", "", "dataset: mnist, fashion-mnist, a folder of IDX files or images, or a CSV file")
	fl.StringVar(&f.out, "out", "", "where to write the trained model (ONNX)")
	fl.IntVar(&f.epochs, "epochs", 10, "training epochs")
	fl.IntVar(&f.batch, "batch", train.DefaultBatchSize, "mini-batch size")
	fl.Float64Var(&f.lr, "lr", train.DefaultLR, "learning rate")
	fl.StringVar(&f.optimizer, "optimizer", string(train.SGD), "optimizer: sgd (with momentum 0.9) or adam")
	fl.StringVar(&f.schedule, "schedule", string(train.Constant), "learning-rate schedule: constant, step or cosine")
	fl.Float64Var(&f.weightDecay, "weight-decay", 0, "L2 weight decay")
	fl.Uint64Var(&f.seed, "seed", 1, "seed for initialization, shuffling and the validation split")
	fl.Float64Var(&f.valSplit, "val-split", 0, "share of the training set held out for validation, in [0, 1)")
	fl.IntVar(&f.patience, "patience", 0, "stop after this many epochs without a better validation loss (needs --val-split)")
	fl.IntVar(&f.threads, "threads", 0, "threads for the engine (0: all cores)")
	fl.StringVar(&f.checkpointDir, "checkpoint-dir", "", "write epoch-N.onnx here after every epoch")
	return cmd
}

func (f trainFlags) config() (train.Config, error) {
	var errs []string
	if f.arch == "" {
		errs = append(errs, "--arch is required ("+strings.Join(models.Archs(), ", ")+")")
	} else if !slices.Contains(models.Archs(), strings.ToLower(f.arch)) {
		errs = append(errs, fmt.Sprintf("--arch %q: want one of %s", f.arch, strings.Join(models.Archs(), ", ")))
	}
	if f.dataset == "" {
		errs = append(errs, "--data is required")
	}
	if f.out == "" {
		errs = append(errs, "--out is required")
	} else if !strings.EqualFold(filepath.Ext(f.out), ".onnx") {
		errs = append(errs, fmt.Sprintf("--out %q: want a .onnx file", f.out))
	}
	if f.epochs < 1 {
		errs = append(errs, fmt.Sprintf("--epochs %d: want at least 1", f.epochs))
	}
	if f.batch < 1 {
		errs = append(errs, fmt.Sprintf("--batch %d: want at least 1", f.batch))
	}
	if !(f.lr > 0) || f.lr > 10 {
		errs = append(errs, fmt.Sprintf("--lr %v: want a rate in (0, 10]", f.lr))
	}
	if f.weightDecay < 0 {
		errs = append(errs, fmt.Sprintf("--weight-decay %v: want ≥ 0", f.weightDecay))
	}
	if f.valSplit < 0 || f.valSplit >= 1 {
		errs = append(errs, fmt.Sprintf("--val-split %v: want a share in [0, 1)", f.valSplit))
	}
	if f.patience < 0 {
		errs = append(errs, fmt.Sprintf("--patience %d: want ≥ 0", f.patience))
	} else if f.patience > 0 && f.valSplit == 0 {
		errs = append(errs, "--patience needs a validation set: give --val-split too")
	}
	if f.threads < 0 {
		errs = append(errs, fmt.Sprintf("--threads %d: want ≥ 0", f.threads))
	}
	opt, err := parseOptimizer(f.optimizer)
	if err != nil {
		errs = append(errs, err.Error())
	}
	sched := train.ScheduleKind(strings.ToLower(f.schedule))
	if sched != train.Constant && sched != train.Step && sched != train.Cosine {
		errs = append(errs, fmt.Sprintf("--schedule %q: want constant, step or cosine", f.schedule))
	}
	if len(errs) > 0 {
		return train.Config{}, fmt.Errorf("train: %s", strings.Join(errs, "; "))
	}
	return train.Config{
		Epochs: f.epochs, BatchSize: f.batch, LR: float32(f.lr), Optimizer: opt, Schedule: sched,
		WeightDecay: float32(f.weightDecay), Seed: f.seed, Threads: f.threads, EarlyStopPatience: f.patience,
	}, nil
}

func runTrain(cmd *cobra.Command, f trainFlags) error {
	cfg, err := f.config()
	if err != nil {
		return err
	}
	g, err := models.Build(f.arch, f.seed)
	if err != nil {
		return err
	}
	if f.checkpointDir != "" {
		if err := os.MkdirAll(f.checkpointDir, 0o755); err != nil {
			return fmt.Errorf("train: checkpoint dir: %w", err)
		}
		cfg.Checkpoint = func(g *graph.Graph, epoch int) error {
			return onnx.WriteFile(filepath.Join(f.checkpointDir, fmt.Sprintf("epoch-%d.onnx", epoch)), g)
		}
	}
	trainSet, err := data.Load(f.dataset, "train")
	if err != nil {
		return err
	}
	var valSet *data.Dataset
	if f.valSplit > 0 {
		if trainSet, valSet, err = trainSet.Split(f.valSplit, f.seed); err != nil {
			return err
		}
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "training %s on %s: %d samples", f.arch, f.dataset, trainSet.Len())
	if valSet != nil {
		fmt.Fprintf(stderr, " (+%d validation)", valSet.Len())
	}
	fmt.Fprintf(stderr, ", %d epochs, batch %d, %s lr %g (%s)\n", cfg.Epochs, cfg.BatchSize, cfg.Optimizer, cfg.LR, cfg.Schedule)
	bar := newProgressBar(stderr)
	cfg.Progress = bar.update
	start := time.Now()
	hist, err := train.Fit(cmd.Context(), g, trainSet, valSet, cfg)
	bar.done()
	if hist != nil {
		for _, e := range hist.Epochs {
			line := fmt.Sprintf("epoch %d: loss %.4f acc %.2f%%", e.Epoch, e.TrainLoss, 100*e.TrainAcc)
			if valSet != nil {
				line += fmt.Sprintf(", val loss %.4f acc %.2f%%", e.ValLoss, 100*e.ValAcc)
			}
			fmt.Fprintf(stderr, "%s, lr %.4g, %.0f samples/s, %s\n", line, e.LR, e.SamplesPerSec, e.Duration.Round(time.Millisecond))
		}
		if hist.Stopped && hist.BestEpoch > 0 {
			fmt.Fprintf(stderr, "stopped early; kept the weights of epoch %d\n", hist.BestEpoch)
		}
	}
	if err != nil {
		return err
	}
	if err := onnx.WriteFile(f.out, g); err != nil {
		return err
	}
	testSet, err := data.Load(f.dataset, "test")
	if err != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (trained in %s; no test split: %v)\n", f.out, time.Since(start).Round(time.Second), err)
		return nil
	}
	acc, loss, _, err := train.Evaluate(cmd.Context(), g, testSet)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: test accuracy %.2f%%, loss %.4f (%d samples), trained in %s\n",
		f.out, 100*acc, loss, testSet.Len(), time.Since(start).Round(time.Second))
	return nil
}

// progressBar draws training progress on one terminal line (redrawn in place), or
// a line per tenth of an epoch when the output is not a terminal.
type progressBar struct {
	w       io.Writer
	tty     bool
	last    time.Time
	lastBin int
	drawn   bool
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty, lastBin: -1}
}

func (b *progressBar) update(p train.Progress) {
	const width = 24
	frac := p.EpochFraction
	line := fmt.Sprintf("epoch %d/%d [%s%s] %3.0f%% %6.0f samples/s  loss %.4f  ETA %s",
		p.Epoch, p.Epochs,
		strings.Repeat("=", int(frac*width)), strings.Repeat(" ", width-int(frac*width)),
		100*frac, p.SamplesPerSec, p.Loss, p.ETA.Round(time.Second))
	if b.tty {
		if time.Since(b.last) < 100*time.Millisecond && p.Step != p.Steps {
			return
		}
		b.last = time.Now()
		fmt.Fprintf(b.w, "\r\033[K%s", line)
		b.drawn = true
		return
	}
	bin := p.GlobalStep * 10 / max(1, p.Steps)
	if bin != b.lastBin {
		b.lastBin = bin
		fmt.Fprintln(b.w, line)
	}
}

func (b *progressBar) done() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// parseOptimizer reads an --optimizer flag: sgd or adam, in any case.
func parseOptimizer(flag string) (train.OptimizerKind, error) {
	opt := train.OptimizerKind(strings.ToLower(flag))
	if opt != train.SGD && opt != train.Adam {
		return "", fmt.Errorf("--optimizer %q: want sgd or adam", flag)
	}
	return opt, nil
}
