package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/prune"
)

// candidate is a structured plan given as kept channels per group, named by its text.
type candidate struct {
	name     string
	channels map[string]int
}

// parseCandidates reads -candidates: plans separated by ";", each a comma-separated
// list of group=channels (ResNet-8: "stem.conv=4,layer1.conv1=8,layer2.conv1=32").
// Groups a plan leaves out stay whole.
func parseCandidates(s string) ([]candidate, error) {
	var out []candidate
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		c := candidate{name: p, channels: map[string]int{}}
		for _, kv := range strings.Split(p, ",") {
			name, v, ok := strings.Cut(kv, "=")
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if !ok || err != nil || n < 1 {
				return nil, fmt.Errorf("candidate %q: %q is not group=channels with channels ≥ 1", p, kv)
			}
			name = strings.TrimSpace(name)
			if _, dup := c.channels[name]; dup {
				return nil, fmt.Errorf("candidate %q: group %q given twice", p, name)
			}
			c.channels[name] = n
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-candidates %q holds no plan", s)
	}
	return out, nil
}

// candidateGraph prunes base to c's channels in one shot, without fine-tuning (speed
// only: the weights do not change the time). Unknown groups and counts above a
// group's size are errors.
func candidateGraph(ctx context.Context, base *graph.Graph, c candidate) (*graph.Graph, error) {
	d, err := prune.Build(base)
	if err != nil {
		return nil, err
	}
	size := map[string]int{}
	for _, gr := range d.Groups {
		size[gr.Name] = gr.Size()
	}
	keep := map[string]float64{}
	for name, n := range c.channels {
		s, ok := size[name]
		if !ok {
			return nil, fmt.Errorf("candidate %q: no channel group %q in the model", c.name, name)
		}
		if n > s {
			return nil, fmt.Errorf("candidate %q: %d channels for group %q of %d", c.name, n, name, s)
		}
		keep[name] = float64(n) / float64(s)
	}
	res, err := prune.Prune(ctx, base.Clone(), prune.Config{Method: prune.Structured, Schedule: prune.ScheduleOneShot, Criterion: prune.CriterionL1,
		Target: prune.Target{Kind: prune.TargetPlan}, Plan: &prune.PlanFile{Keep: keep}})
	if err != nil {
		return nil, fmt.Errorf("candidate %q: %w", c.name, err)
	}
	return res.Graph, nil
}

// measureCandidates times each candidate against base at batch 1, all of them in one
// interleaved Latencies call per round (compiled with prune.DeviceOptions, as
// prune.MeasurePair compiles them), and prints per candidate
// its MACs reduction, speedups and efficiency (speedup over MACs reduction; issue 3's
// structured bar asks at least 0.7). rounds recompiles everything each round, so the
// first-run choices are made again each time.
func measureCandidates(ctx context.Context, w io.Writer, base *graph.Graph, cands []candidate, threads, rounds int) error {
	baseMACs, err := totalMACs(base)
	if err != nil {
		return err
	}
	gs := make([]*graph.Graph, len(cands))
	ratio := make([]float64, len(cands))
	for i, c := range cands {
		if gs[i], err = candidateGraph(ctx, base, c); err != nil {
			return err
		}
		m, err := totalMACs(gs[i])
		if err != nil {
			return err
		}
		ratio[i] = float64(baseMACs) / float64(m)
	}
	opts := prune.DeviceOptions(threads)
	speed := make([][]float64, len(cands))
	for range rounds {
		runs := []prune.Timed{{G: base, Opts: opts}}
		for _, g := range gs {
			runs = append(runs, prune.Timed{G: g, Opts: opts})
		}
		lat, err := prune.Latencies(ctx, runs, 1, 400*time.Millisecond)
		if err != nil {
			return err
		}
		for i := range cands {
			speed[i] = append(speed[i], float64(lat[0])/float64(lat[i+1]))
		}
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "candidate\tMACs ratio\tb1 speedups\tefficiency min\tmedian")
	for i, c := range cands {
		s := slices.Clone(speed[i])
		slices.Sort(s)
		parts := make([]string, len(speed[i]))
		for j, v := range speed[i] {
			parts[j] = fmt.Sprintf("%.2f", v)
		}
		fmt.Fprintf(tw, "%s\t%.2fx\t%s\t%.2f\t%.2f\n", c.name, ratio[i], strings.Join(parts, " "), s[0]/ratio[i], s[len(s)/2]/ratio[i])
	}
	return tw.Flush()
}

func totalMACs(g *graph.Graph) (int64, error) {
	r, err := metrics.Measure(g)
	if err != nil {
		return 0, err
	}
	return r.Total.MACs, nil
}
