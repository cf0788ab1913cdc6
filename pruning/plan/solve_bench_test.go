package plan

import (
	"fmt"
	"testing"
)

// BenchmarkSolve plans a 20-layer chain of 256-channel convolutions at a quarter of
// its cost with channels in multiples of 8, the size of a coordinator's tuning step.
func BenchmarkSolve(b *testing.B) {
	var curves []Curve
	var terms []Term
	prev := ""
	for i := range 20 {
		name := fmt.Sprintf("conv%d", i)
		curves = append(curves, curve(name, 256, float64(1+i%5)))
		terms = append(terms, Term{Node: name, Base: 1e6, In: []Share{{prev, 1}}, Out: []Share{{name, 1}}})
		prev = name
	}
	budget := Cost(terms, nil) / 4
	b.ResetTimer()
	for b.Loop() {
		if _, err := Solve(Problem{Curves: curves, Costs: terms, Budget: budget, Multiple: 8}); err != nil {
			b.Fatal(err)
		}
	}
}
