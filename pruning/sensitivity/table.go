package sensitivity

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable prints one row per layer and one column per ratio with the accuracy drop
// in percentage points.
func (c *Curves) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	var head strings.Builder
	head.WriteString("layer\tunits\tparams\tMACs\t")
	for _, r := range c.Ratios {
		fmt.Fprintf(&head, "%.0f%%\t", 100*r)
	}
	fmt.Fprintln(tw, head.String())
	for _, l := range c.Layers {
		var row strings.Builder
		fmt.Fprintf(&row, "%s\t%d\t%d\t%d\t", l.Layer, l.Units, l.Params, l.MACs)
		for _, d := range l.Drop {
			fmt.Fprintf(&row, "%+.2f\t", d)
		}
		fmt.Fprintln(tw, row.String())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "accuracy drop in percentage points from a baseline of %.2f%% on %d samples of %s (%s pruning, one layer at a time)\n",
		c.Baseline, c.Samples, c.Dataset, c.Method)
	return err
}
