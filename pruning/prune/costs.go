package prune

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/plan"
)

// shares describes which groups a value's channels belong to, by count.
func (d *DepGraph) shares(value string) []plan.Share {
	s, ok := d.shapes[value]
	if !ok || len(s) < 2 {
		return nil
	}
	counts := map[string]int{}
	cg := d.channelGroup[value]
	for i := 0; i < s[1]; i++ {
		name := ""
		if cg != nil {
			name = cg[i]
		}
		counts[name]++
	}
	var out []plan.Share
	for _, name := range sortedKeys(counts) {
		out = append(out, plan.Share{Layer: name, Weight: float64(counts[name])})
	}
	return out
}

// MACsTerms models the multiply-accumulates per sample of every Conv, Gemm and MatMul
// (as pruning/metrics counts them) as planning cost terms: each scales with the kept
// share of its input and output channels. A depthwise Conv scales with its one group.
func (d *DepGraph) MACsTerms() ([]plan.Term, error) {
	macs, err := d.LayerMACs()
	if err != nil {
		return nil, err
	}
	return d.weightTerms(func(n *graph.Node) float64 { return float64(macs[n.Name]) }), nil
}

// ParamsTerms models the weight count of every Conv, Gemm and MatMul the same way.
func (d *DepGraph) ParamsTerms() []plan.Term {
	return d.weightTerms(func(n *graph.Node) float64 { return float64(d.g.Params[n.Inputs[1]].Len()) })
}

// LatencyTerms models measured per-node latency (seconds or any unit, by node name) as
// cost terms, NetAdapt-style: a Conv, Gemm or MatMul scales with its input and output
// channel shares, any other node with its output's. Nodes without a measurement cost
// nothing.
func (d *DepGraph) LatencyTerms(perNode map[string]float64) []plan.Term {
	var out []plan.Term
	dense := d.weightTerms(func(n *graph.Node) float64 { return perNode[n.Name] })
	byName := map[string]plan.Term{}
	for _, t := range dense {
		byName[t.Node] = t
	}
	for _, n := range d.g.Nodes {
		base, ok := perNode[n.Name]
		if !ok || base == 0 {
			continue
		}
		if t, ok := byName[n.Name]; ok {
			out = append(out, t)
			continue
		}
		if len(n.Outputs) > 0 {
			out = append(out, plan.Term{Node: n.Name, Base: base, Out: d.shares(n.Outputs[0])})
		}
	}
	return out
}

func (d *DepGraph) weightTerms(base func(n *graph.Node) float64) []plan.Term {
	var out []plan.Term
	for _, n := range d.g.Nodes {
		if !isWeightNode(d.g, n) {
			continue
		}
		t := plan.Term{Node: n.Name, Base: base(n), Out: d.shares(n.Outputs[0])}
		if !d.isDepthwise(n) {
			t.In = d.shares(n.Inputs[0])
		}
		out = append(out, t)
	}
	return out
}

func (d *DepGraph) isDepthwise(n *graph.Node) bool {
	for _, dw := range d.depthwise {
		if dw.Name == n.Name {
			return true
		}
	}
	return false
}

func isWeightNode(g *graph.Graph, n *graph.Node) bool {
	if n.Op != "Conv" && n.Op != "Gemm" && n.Op != "MatMul" || len(n.Inputs) < 2 {
		return false
	}
	_, ok := g.Params[n.Inputs[1]]
	return ok
}

// LayerMACs is the multiply-accumulate count per sample of every node of the graph
// with a nonzero count, by node name, from pruning/metrics.
func (d *DepGraph) LayerMACs() (map[string]int64, error) {
	r, err := metrics.Measure(d.g)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	out := map[string]int64{}
	for _, l := range r.Layers {
		if l.MACs > 0 {
			out[l.Name] = l.MACs
		}
	}
	return out, nil
}
