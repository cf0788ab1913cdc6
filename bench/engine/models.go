package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/onnx"
)

// row is one model variant of the table: a built-in architecture, dense, or
// magnitude-pruned and run dense or through CSR kernels (issue 3's sparse target).
type row struct {
	label, arch string
	ours        *engine
	onnx        string
	peers       bool // also measure torch and ORT (not for the pruned-but-dense baseline)
	train       bool // also measure a training step
}

// cell is one measurement: a row in one mode at one batch size.
type cell struct {
	*row
	train bool
	batch int
}

func (c cell) String() string {
	if c.train {
		return fmt.Sprintf("train b%d", c.batch)
	}
	return fmt.Sprintf("infer b%d", c.batch)
}

// engines measured per cell, in the order of the table's columns.
const (
	engOurs = iota
	engTorch
	engORT
	numEngines
)

var engineNames = [numEngines]string{"ours", "torch", "ort"}

// benchModels measures every cell of every model on every available engine, rounds
// interleaved (ours, torch, ORT, then the next round in rotated order) so that a
// change in machine load hits all engines alike, and prints one table.
func benchModels(ctx context.Context, w io.Writer, cfg config) error {
	dir, err := os.MkdirTemp("", "fleetprune-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)

	var rows []*row
	addRow := func(label, arch string, sparsity float64, sparse, peers, train bool) error {
		e, err := newEngine(arch, cfg.threads, sparsity, sparse)
		if err != nil {
			return err
		}
		r := &row{label: label, arch: arch, ours: e, onnx: filepath.Join(dir, fmt.Sprintf("m%d.onnx", len(rows))), peers: peers, train: train}
		if err := onnx.WriteFile(r.onnx, e.g); err != nil {
			return fmt.Errorf("bench: %s: %w", label, err)
		}
		rows = append(rows, r)
		return nil
	}
	for _, arch := range cfg.archs {
		if err := addRow(arch, arch, 0, false, true, true); err != nil {
			return err
		}
	}
	if cfg.sparsity > 0 {
		pct := fmt.Sprintf("%.0f%%", cfg.sparsity*100)
		if err := addRow("lenet-300-100 "+pct+" pruned, dense", "lenet-300-100", cfg.sparsity, false, false, false); err != nil {
			return err
		}
		if err := addRow("lenet-300-100 "+pct+" pruned, sparse", "lenet-300-100", cfg.sparsity, true, true, false); err != nil {
			return err
		}
		fmt.Fprintf(w, "sparse row: CSR layers %v\n", rows[len(rows)-1].ours.infer.SparseNodes())
	}

	var torch, ort *peer
	if !cfg.noTorch {
		var env []string
		if cfg.ompWait != "" {
			env = append(env, "OMP_WAIT_POLICY="+strings.ToUpper(cfg.ompWait))
		}
		torch, err = startPeer(ctx, "torch", env, cfg.python, filepath.Join(cfg.root, "scripts", "bench_torch.py"), "--threads", fmt.Sprint(cfg.threads))
		if err != nil {
			fmt.Fprintf(w, "PyTorch column skipped: %v\n", err)
		} else {
			defer torch.close()
			fmt.Fprintf(w, "torch %v, %v threads, BLAS %v, OMP_WAIT_POLICY=%s\n", torch.hello["torch"], torch.hello["threads"], torch.hello["blas"], cfg.ompWait)
		}
	}
	if !cfg.noORT {
		dirORT, err := ortPackage(cfg)
		if err == nil {
			spin := "0"
			if cfg.ortSpin {
				spin = "1"
			}
			ort, err = startPeer(ctx, "onnxruntime", nil, "node", filepath.Join(cfg.root, "scripts", "bench_ort.js"), "--ort", dirORT, "--threads", fmt.Sprint(cfg.threads), "--spin", spin)
		}
		if err != nil {
			fmt.Fprintf(w, "ONNX Runtime column skipped: %v\n", err)
			ort = nil
		} else {
			defer ort.close()
			fmt.Fprintf(w, "onnxruntime-node %v, %v intra-op threads, spinning %v\n", ort.hello["ort"], ort.hello["threads"], ort.hello["spin"])
		}
	}

	chunk := 250 * time.Millisecond
	if cfg.quick {
		chunk = 80 * time.Millisecond
	}
	var cells []cell
	for _, r := range rows {
		if r.train && cfg.train {
			cells = append(cells, cell{r, true, 64})
		}
		cells = append(cells, cell{r, false, 1}, cell{r, false, 64})
	}
	results := make([][numEngines]sample, len(cells))
	start := time.Now()
	for i, c := range cells {
		e := c.ours
		measure := func(eng, warmup, runs int) (sample, error) {
			switch eng {
			case engOurs:
				if c.train {
					return e.timeTrain(ctx, c.batch, warmup, runs)
				}
				return e.timeInfer(ctx, c.batch, warmup, runs)
			case engTorch:
				if torch == nil || !c.peers {
					return nil, nil
				}
				mode := "infer"
				if c.train {
					mode = "train"
				}
				return torch.time(map[string]any{"arch": c.arch, "mode": mode, "batch": c.batch, "warmup": warmup, "runs": runs})
			default:
				if ort == nil || c.train || !c.peers {
					return nil, nil
				}
				return ort.time(map[string]any{"model": c.onnx, "batch": c.batch, "warmup": warmup, "runs": runs})
			}
		}
		// Calibrate on ours: enough runs per chunk for a stable median, at least 3.
		probe, err := measure(engOurs, 1, 1)
		if err != nil {
			return fmt.Errorf("bench: %s %s: %w", c.label, c, err)
		}
		runs := int(chunk / max(probe.median(), time.Microsecond))
		runs = min(max(runs, 3), 400)
		warmup := max(2, runs/10)
		for r := range cfg.rounds {
			for k := range numEngines {
				eng := (k + r) % numEngines
				s, err := measure(eng, warmup, runs)
				if err != nil {
					return fmt.Errorf("bench: %s %s on %s: %w", c.label, c, engineNames[eng], err)
				}
				results[i][eng] = append(results[i][eng], s...)
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
	}
	fmt.Fprintf(w, "measured in %v: %d interleaved rounds per cell; median (p95) per run; speed ratio = their time / our time (>1: ours faster)\n\n", time.Since(start).Round(time.Second), cfg.rounds)
	printTable(w, cells, results)
	if cfg.sparsity > 0 {
		// The sparse speedup from the two pruned rows measured side by side: in the
		// table they are separate cells, measured one after the other.
		dense, sparse := rows[len(rows)-2], rows[len(rows)-1]
		label := strings.TrimSuffix(sparse.label, ", sparse")
		for _, batch := range []int{1, 64} {
			sd, ss, err := measurePair(ctx, dense.ours, sparse.ours, batch, chunk, 2*cfg.rounds)
			if err != nil {
				return fmt.Errorf("bench: %s: %w", label, err)
			}
			fmt.Fprintf(w, "%s at batch %d: sparse %s vs dense %s = %.2f× faster (%d interleaved rounds)\n",
				label, batch, fmtDur(ss.median()), fmtDur(sd.median()), sd.median().Seconds()/ss.median().Seconds(), 2*cfg.rounds)
		}
	}
	return nil
}

// measurePair times two engines' inference at one batch size in alternating chunks
// (a, b, then b, a in the next round), so that a change in machine load hits both.
func measurePair(ctx context.Context, a, b *engine, batch int, chunk time.Duration, rounds int) (sa, sb sample, err error) {
	probe, err := a.timeInfer(ctx, batch, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	runs := min(max(int(chunk/max(probe.median(), time.Microsecond)), 3), 400)
	warmup := max(2, runs/10)
	for r := range rounds {
		for k := range 2 {
			e, dst := a, &sa
			if (k+r)%2 == 1 {
				e, dst = b, &sb
			}
			s, err := e.timeInfer(ctx, batch, warmup, runs)
			if err != nil {
				return nil, nil, err
			}
			*dst = append(*dst, s...)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
	return sa, sb, nil
}

// printTable writes one row per cell: samples/s for training, median and p95 latency
// for inference, and our speed relative to torch and ORT.
func printTable(w io.Writer, cells []cell, results [][numEngines]sample) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "model\tcell\tours\ttorch\tort\tours vs torch\tours vs ort\t")
	for i, c := range cells {
		row := []string{c.label, c.String()}
		for eng := range numEngines {
			row = append(row, formatSample(c, results[i][eng]))
		}
		ours := results[i][engOurs]
		for _, eng := range []int{engTorch, engORT} {
			row = append(row, ratio(results[i][eng], ours))
		}
		for _, s := range row {
			fmt.Fprintf(tw, "%s\t", s)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

func formatSample(c cell, s sample) string {
	if len(s) == 0 {
		return "-"
	}
	if c.train {
		return fmt.Sprintf("%.0f samples/s", float64(c.batch)/s.median().Seconds())
	}
	return fmt.Sprintf("%s (p95 %s)", fmtDur(s.median()), fmtDur(s.p95()))
}

func ratio(theirs, ours sample) string {
	if len(theirs) == 0 || len(ours) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", theirs.median().Seconds()/ours.median().Seconds())
}

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// repoRoot walks up from the working directory to the folder holding go.mod and
// scripts/bench_torch.py.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "bench_torch.py")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, nil
			}
		}
		if filepath.Dir(dir) == dir {
			return "", errors.New("bench: run inside the fleetprune repository: scripts/bench_torch.py not found above " + wd)
		}
	}
}

// ortPackage finds the onnxruntime-node package folder: -ort, $FLEETPRUNE_ORT_DIR
// (the package or a folder holding node_modules/onnxruntime-node), or <repo>/.ort.
func ortPackage(cfg config) (string, error) {
	var candidates []string
	switch {
	case cfg.ortDir != "":
		candidates = []string{cfg.ortDir}
	case os.Getenv("FLEETPRUNE_ORT_DIR") != "":
		d := os.Getenv("FLEETPRUNE_ORT_DIR")
		candidates = []string{filepath.Join(d, "node_modules", "onnxruntime-node"), d}
	default:
		candidates = []string{filepath.Join(cfg.root, ".ort", "node_modules", "onnxruntime-node")}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "package.json")); err == nil {
			abs, err := filepath.Abs(c)
			if err != nil {
				return "", fmt.Errorf("bench: %w", err)
			}
			return abs, nil
		}
	}
	return "", fmt.Errorf("bench: onnxruntime-node not found in %v (run scripts/install-ort.sh)", candidates)
}
