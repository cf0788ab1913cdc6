package view

import (
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/profiles"
)

// Limits converts a class SLO to the limits tuning judges variants against.
func Limits(slo profiles.SLO) tuning.Limits {
	return tuning.Limits{
		P95:             slo.P95Latency.D(),
		MaxAccuracyDrop: slo.MaxAccuracyDrop,
		MaxModelBytes:   int64(slo.MaxModelBytes),
		MaxPeakMemory:   int64(slo.MaxPeakMemory),
	}
}

// Pareto returns the base model and every trial of st as points of accuracy against
// measured p95, each judged against slo, with the accepted variant and the Pareto
// frontier (lowest p95 for its accuracy) marked. Trials not measured yet (p95 0) are
// left out.
func Pareto(slo profiles.SLO, st *tuning.State) []ParetoPoint {
	lim := Limits(slo)
	out := []ParetoPoint{}
	add := func(r tuning.Record, base bool) {
		if r.P95 <= 0 {
			return
		}
		p := ParetoPoint{VariantID: r.VariantID, Generation: st.Generation, Iteration: r.Iteration,
			Budget: r.Budget, P95Ms: ms(r.P95), Accuracy: r.Accuracy, AccuracyDrop: r.AccuracyDrop,
			Sparsity: r.Sparsity, MACs: r.MACs, Params: r.Params, ModelBytes: r.ModelBytes,
			PeakMemory: r.PeakMemory, Base: base}
		p.Violation = lim.Violation(r.Trial)
		p.MeetsSLO = p.Violation == ""
		p.Accepted = !base && st.Accepted != "" && r.VariantID == st.Accepted
		out = append(out, p)
	}
	if st.Base != nil {
		add(*st.Base, true)
	}
	for _, r := range st.Trials {
		add(r, false)
	}
	for i := range out {
		out[i].Frontier = true
		for j := range out {
			if i != j && dominates(out[j], out[i]) {
				out[i].Frontier = false
				break
			}
		}
	}
	return out
}

// dominates says whether a is at least as fast and as accurate as b, and better in
// one of the two.
func dominates(a, b ParetoPoint) bool {
	return a.P95Ms <= b.P95Ms && a.Accuracy >= b.Accuracy && (a.P95Ms < b.P95Ms || a.Accuracy > b.Accuracy)
}
