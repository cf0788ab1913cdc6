package sensitivity

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WritePlot draws one line per layer, accuracy drop against prune ratio, into an image
// file whose format follows the extension (.png, .svg, .pdf).
func (c *Curves) WritePlot(path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Sensitivity of %s (%s, baseline %.2f%%)", c.Model, c.Method, c.Baseline)
	p.X.Label.Text = "prune ratio"
	p.Y.Label.Text = "accuracy drop (pp)"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	for i, l := range c.Layers {
		pts := make(plotter.XYs, len(c.Ratios)+1)
		for j, r := range c.Ratios {
			pts[j+1] = plotter.XY{X: r, Y: l.Drop[j]}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("sensitivity: plot layer %s: %w", l.Layer, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i / 7)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(l.Layer, line, points)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("sensitivity: plot %s: %w", path, err)
	}
	return nil
}
