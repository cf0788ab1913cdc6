package sensitivity

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// DefaultRatios are the prune ratios measured unless the caller gives others.
var DefaultRatios = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

// Config configures Analyze.
type Config struct {
	// Structured measures coupled channel groups pruned by Criterion; otherwise each
	// weight is pruned by magnitude.
	Structured bool
	Criterion  prune.Criterion
	Ratios     []float64
	// Workers evaluate in parallel; 0 means GOMAXPROCS. Each runs single-threaded.
	Workers int
	// Progress, when set, is called after each measurement from the worker that made
	// it; calls are serialized.
	Progress func(done, total int, layer string, ratio float64)
	Model    string
}

// Analyze prunes every prunable layer of g alone at each ratio, evaluates on val, and
// returns the curves. g is not changed.
func Analyze(ctx context.Context, g *graph.Graph, val *data.Dataset, cfg Config) (*Curves, error) {
	if val == nil || val.Len() == 0 {
		return nil, errors.New("sensitivity: empty validation set")
	}
	ratios := cfg.Ratios
	if len(ratios) == 0 {
		ratios = DefaultRatios
	}
	c := &Curves{Version: FormatVersion, Model: cfg.Model, Dataset: val.Name, Samples: val.Len(), Ratios: append([]float64(nil), ratios...)}
	if c.Model == "" {
		c.Model = g.Name
	}
	d, err := prune.Build(g)
	if err != nil {
		return nil, fmt.Errorf("sensitivity: %w", err)
	}
	macs, err := d.LayerMACs()
	if err != nil {
		return nil, fmt.Errorf("sensitivity: %w", err)
	}
	var scores map[string][]float64
	// pruneAt builds the model with only layer pruned at ratio r.
	var pruneAt func(layer string, r float64) (*graph.Graph, error)
	if cfg.Structured {
		if cfg.Criterion == "" {
			cfg.Criterion = prune.CriterionL1
		}
		if cfg.Criterion == prune.CriterionTaylor {
			return nil, errors.New("sensitivity: the taylor criterion needs training batches; use l1, l2 or bn for sensitivity")
		}
		c.Method, c.Criterion = "structured", string(cfg.Criterion)
		if scores, err = d.Scores(cfg.Criterion, nil); err != nil {
			return nil, fmt.Errorf("sensitivity: %w", err)
		}
		for _, gr := range d.Groups {
			lc := LayerCurve{Layer: gr.Name, Units: gr.Size()}
			for _, l := range gr.Layers {
				lc.MACs += macs[l]
			}
			seen := map[string]bool{}
			for _, s := range gr.Units[0].Slices {
				if !seen[s.Param] && s.Role == prune.RoleOut {
					seen[s.Param] = true
					lc.Params += int64(g.Params[s.Param].Len())
				}
			}
			c.Layers = append(c.Layers, lc)
		}
		pruneAt = func(layer string, r float64) (*graph.Graph, error) {
			gr := d.Group(layer)
			keep := max(gr.Size()-int(r*float64(gr.Size())+0.5), 1)
			return d.PruneStructured(map[string]int{layer: keep}, scores)
		}
	} else {
		c.Method = "unstructured"
		for _, l := range prune.WeightLayers(g) {
			c.Layers = append(c.Layers, LayerCurve{Layer: l.Param, Units: l.Size, Params: int64(l.Size), MACs: macs[l.Node]})
		}
		pruneAt = func(layer string, r float64) (*graph.Graph, error) {
			m, err := prune.PerLayerMasks(g, map[string]float64{layer: r})
			if err != nil {
				return nil, err
			}
			return m.Fold(g), nil
		}
	}
	base, err := evaluate(ctx, g, val)
	if err != nil {
		return nil, err
	}
	c.Baseline = base
	for i := range c.Layers {
		c.Layers[i].Accuracy = make([]float64, len(ratios))
		c.Layers[i].Drop = make([]float64, len(ratios))
	}
	type job struct{ layer, ratio int }
	total := len(c.Layers) * len(ratios)
	jobs := make(chan job)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(jobs)
		for li := range c.Layers {
			for ri := range ratios {
				select {
				case jobs <- job{li, ri}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				l := &c.Layers[j.layer]
				acc, err := func() (float64, error) {
					pg, err := pruneAt(l.Layer, ratios[j.ratio])
					if err != nil {
						return 0, err
					}
					return evaluate(ctx, pg, val)
				}()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("sensitivity: layer %s at ratio %v: %w", l.Layer, ratios[j.ratio], err)
					}
					cancel()
				} else {
					l.Accuracy[j.ratio] = acc
					l.Drop[j.ratio] = base - acc
					done++
					if cfg.Progress != nil {
						cfg.Progress(done, total, l.Layer, ratios[j.ratio])
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sensitivity: %w", err)
	}
	return c, c.Validate()
}

// evaluate returns accuracy in percent, single-threaded so that workers share cores.
func evaluate(ctx context.Context, g *graph.Graph, val *data.Dataset) (float64, error) {
	ex, err := graph.Compile(g, graph.WithThreads(1))
	if err != nil {
		return 0, err
	}
	acc, _, _, err := train.EvaluateExecutor(ctx, ex, val, 0)
	if err != nil {
		return 0, err
	}
	return 100 * acc, nil
}
