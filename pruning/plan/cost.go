package plan

import "fmt"

// Share is one layer's part of a node's input or output channels. Layer "" stands for
// channels no plan can prune (a graph input, the output classes).
type Share struct {
	Layer  string
	Weight float64
}

// Term is the cost of one node as a function of keep ratios: Base times the kept share
// of its input channels times the kept share of its output channels. MACs of a Conv or
// Gemm scale exactly so; measured latency is scaled the same way, NetAdapt-style, from
// a per-node measurement of the unpruned model. A depthwise Conv, whose input and
// output are one group, lists it on one side only.
type Term struct {
	Node string
	Base float64
	In   []Share
	Out  []Share
}

// Cost sums the terms at the given keep ratios; layers not in keep count as unpruned.
func Cost(terms []Term, keep map[string]float64) float64 {
	var c float64
	for _, t := range terms {
		c += t.Base * fraction(t.In, keep) * fraction(t.Out, keep)
	}
	return c
}

func fraction(shares []Share, keep map[string]float64) float64 {
	if len(shares) == 0 {
		return 1
	}
	var f, w float64
	for _, s := range shares {
		k, ok := keep[s.Layer]
		if !ok || s.Layer == "" {
			k = 1
		}
		f += s.Weight * k
		w += s.Weight
	}
	return f / w
}

func validateTerms(terms []Term) error {
	for _, t := range terms {
		if t.Base < 0 {
			return fmt.Errorf("plan: cost of node %s is negative (%v)", t.Node, t.Base)
		}
		for _, s := range append(append([]Share(nil), t.In...), t.Out...) {
			if s.Weight <= 0 {
				return fmt.Errorf("plan: node %s: share of layer %q has weight %v, want > 0", t.Node, s.Layer, s.Weight)
			}
		}
	}
	return nil
}
