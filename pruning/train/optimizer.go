package train

import (
	"math"
	"sort"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// optimizer updates parameters in place from their gradients.
type optimizer struct {
	cfg   Config
	names []string // sorted, so updates run in a fixed order
	m, v  map[string][]float32
	t     int
}

func newOptimizer(cfg Config, g *graph.Graph, grads map[string]*tensor.Tensor) *optimizer {
	o := &optimizer{cfg: cfg, m: map[string][]float32{}, v: map[string][]float32{}}
	for name := range grads {
		o.names = append(o.names, name)
		o.m[name] = make([]float32, g.Params[name].Len())
		if cfg.Optimizer == Adam {
			o.v[name] = make([]float32, g.Params[name].Len())
		}
	}
	sort.Strings(o.names)
	return o
}

// step applies one update with learning rate lr.
func (o *optimizer) step(g *graph.Graph, grads map[string]*tensor.Tensor, lr float32) {
	o.t++
	c := o.cfg
	for _, name := range o.names {
		w, gr, m := g.Params[name].Data, grads[name].Data, o.m[name]
		switch c.Optimizer {
		case Adam:
			v := o.v[name]
			b1c := float32(1 - math.Pow(float64(c.Beta1), float64(o.t)))
			b2c := float32(1 - math.Pow(float64(c.Beta2), float64(o.t)))
			for i, gi := range gr {
				m[i] = c.Beta1*m[i] + (1-c.Beta1)*gi
				v[i] = c.Beta2*v[i] + (1-c.Beta2)*gi*gi
				mh, vh := m[i]/b1c, v[i]/b2c
				w[i] -= lr * (mh/(float32(math.Sqrt(float64(vh)))+c.Eps) + c.WeightDecay*w[i])
			}
		default:
			for i, gi := range gr {
				d := gi + c.WeightDecay*w[i]
				m[i] = c.Momentum*m[i] + d
				w[i] -= lr * m[i]
			}
		}
	}
}
