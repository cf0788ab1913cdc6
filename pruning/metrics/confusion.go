package metrics

import (
	"fmt"
	"io"
	"sort"
)

// Confusion is a confusion matrix: M[true][predicted] counts samples.
type Confusion [][]int

// ClassAccuracy returns, per true class, the share of its samples predicted right
// (NaN-free: a class without samples gets 0) and the sample count.
func (c Confusion) ClassAccuracy() (acc []float64, support []int) {
	acc = make([]float64, len(c))
	support = make([]int, len(c))
	for i, row := range c {
		for _, v := range row {
			support[i] += v
		}
		if support[i] > 0 && i < len(row) {
			acc[i] = float64(row[i]) / float64(support[i])
		}
	}
	return acc, support
}

// Pair is one off-diagonal cell: Count samples of class True predicted as Predicted.
type Pair struct {
	True, Predicted, Count int
}

// MostConfused returns the k largest off-diagonal cells, largest first (ties by class).
func (c Confusion) MostConfused(k int) []Pair {
	var ps []Pair
	for i, row := range c {
		for j, v := range row {
			if i != j && v > 0 {
				ps = append(ps, Pair{i, j, v})
			}
		}
	}
	sort.Slice(ps, func(a, b int) bool {
		if ps[a].Count != ps[b].Count {
			return ps[a].Count > ps[b].Count
		}
		if ps[a].True != ps[b].True {
			return ps[a].True < ps[b].True
		}
		return ps[a].Predicted < ps[b].Predicted
	})
	if len(ps) > k {
		ps = ps[:k]
	}
	return ps
}

// WriteSummary prints per-class accuracy and the k most confused pairs; names label
// the classes when given (else their index).
func (c Confusion) WriteSummary(w io.Writer, names []string, k int) error {
	name := func(i int) string {
		if i < len(names) {
			return names[i]
		}
		return fmt.Sprint(i)
	}
	acc, support := c.ClassAccuracy()
	fmt.Fprintln(w, "per-class accuracy:")
	for i := range acc {
		fmt.Fprintf(w, "  %-12s %6.2f%%  (%d samples)\n", name(i), 100*acc[i], support[i])
	}
	pairs := c.MostConfused(k)
	if len(pairs) == 0 {
		_, err := fmt.Fprintln(w, "no confusions")
		return err
	}
	fmt.Fprintln(w, "most confused (true → predicted):")
	for _, p := range pairs {
		share := 0.0
		if support[p.True] > 0 {
			share = 100 * float64(p.Count) / float64(support[p.True])
		}
		fmt.Fprintf(w, "  %-12s → %-12s %5d  (%.2f%% of %s)\n", name(p.True), name(p.Predicted), p.Count, share, name(p.True))
	}
	return nil
}
