// Command engine is fleetprune's speed benchmark: training throughput and inference
// latency of the built-in models, measured in one run side by side with PyTorch
// (scripts/bench_torch.py) and ONNX Runtime (scripts/bench_ort.js), printed as one
// table with ratios. See bench/README.md.
//
//	go run ./bench/engine [-threads 2] [-quick] [-models lenet-5,resnet-8]
//	go run ./bench/engine -gemm     # GEMM kernels alone: ours vs gonum's sgemm
//	go run ./bench/engine -sparse   # CSR vs dense on pruned LeNet-300-100 layers
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"

	"github.com/fleetprune/fleetprune/pruning/kernels"
	"github.com/fleetprune/fleetprune/pruning/models"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	threads          int
	sparsity         float64
	quick            bool
	rounds           int
	archs            []string
	python, ortDir   string
	ompWait          string
	ortSpin          bool
	noTorch, noORT   bool
	train            bool
	gemmOnly, sparse bool
	root             string
}

func parseFlags(args []string) (config, error) {
	var c config
	var archs string
	flag := flag.NewFlagSet("engine", flag.ContinueOnError)
	flag.IntVar(&c.threads, "threads", 2, "threads for every engine (GOMAXPROCS, torch.set_num_threads, ORT intraOpNumThreads)")
	flag.Float64Var(&c.sparsity, "sparsity", 0.9, "also time LeNet-300-100 magnitude-pruned to this zero fraction, dense and sparse (0 to skip)")
	flag.BoolVar(&c.quick, "quick", false, "fewer rounds and shorter runs (a rough table in well under a minute)")
	flag.IntVar(&c.rounds, "rounds", 0, "interleaved rounds per cell (default 5, 2 with -quick)")
	flag.StringVar(&archs, "models", strings.Join(models.Archs(), ","), "comma-separated architectures")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "Python interpreter with torch")
	flag.StringVar(&c.ompWait, "torch-omp-wait", "PASSIVE", "OMP_WAIT_POLICY for torch (PASSIVE, ACTIVE, or empty for libgomp's default); spinning OpenMP threads slowed torch 300× on a loaded 2-core machine")
	flag.BoolVar(&c.ortSpin, "ort-spin", false, "let ONNX Runtime's idle intra-op threads spin (its default); off, they do not steal the CPU from the engine measured next")
	flag.StringVar(&c.ortDir, "ort", "", "onnxruntime-node package folder (default $FLEETPRUNE_ORT_DIR or <repo>/.ort/node_modules/onnxruntime-node)")
	flag.BoolVar(&c.train, "train", true, "measure training steps (false: inference only)")
	flag.BoolVar(&c.noTorch, "no-torch", false, "skip PyTorch")
	flag.BoolVar(&c.noORT, "no-ort", false, "skip ONNX Runtime")
	flag.BoolVar(&c.gemmOnly, "gemm", false, "benchmark the GEMM kernels alone against gonum's sgemm and exit")
	flag.BoolVar(&c.sparse, "sparse", false, "benchmark CSR against dense on pruned LeNet-300-100 layers and exit")
	if err := flag.Parse(args); err != nil {
		return c, fmt.Errorf("bench: %w", err)
	}
	if flag.NArg() > 0 {
		return c, fmt.Errorf("bench: unexpected arguments %q", flag.Args())
	}
	if c.threads < 1 || c.threads > 256 {
		return c, fmt.Errorf("bench: -threads %d: want 1..256", c.threads)
	}
	switch strings.ToUpper(c.ompWait) {
	case "", "PASSIVE", "ACTIVE":
	default:
		return c, fmt.Errorf("bench: -torch-omp-wait %q: want PASSIVE, ACTIVE or empty", c.ompWait)
	}
	if c.sparsity < 0 || c.sparsity >= 1 {
		return c, fmt.Errorf("bench: -sparsity %v: want 0 (off) or a fraction in (0, 1)", c.sparsity)
	}
	if c.rounds < 0 || c.rounds > 100 {
		return c, fmt.Errorf("bench: -rounds %d: want 0..100", c.rounds)
	}
	if c.rounds == 0 {
		c.rounds = 5
		if c.quick {
			c.rounds = 2
		}
	}
	known := map[string]bool{}
	for _, a := range models.Archs() {
		known[a] = true
	}
	for _, a := range strings.Split(archs, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if !known[a] {
			return c, fmt.Errorf("bench: -models: unknown architecture %q (want some of %s)", a, strings.Join(models.Archs(), ", "))
		}
		c.archs = append(c.archs, a)
	}
	if len(c.archs) == 0 {
		return c, fmt.Errorf("bench: -models: no architecture given")
	}
	return c, nil
}

func run() error {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	runtime.GOMAXPROCS(cfg.threads)
	kernels.SetMaxThreads(cfg.threads)
	fmt.Printf("fleetprune bench: %s/%s, %d threads, GEMM kernel %s\n", runtime.GOOS, runtime.GOARCH, cfg.threads, kernels.KernelName())
	switch {
	case cfg.gemmOnly:
		return benchGemm(ctx, os.Stdout, cfg)
	case cfg.sparse:
		return benchSparse(ctx, os.Stdout, cfg)
	}
	cfg.root, err = repoRoot()
	if err != nil {
		return err
	}
	slog.Debug("bench", "root", cfg.root)
	return benchModels(ctx, os.Stdout, cfg)
}
