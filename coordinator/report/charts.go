package report

import (
	"fmt"
	"math"
	"sort"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/pruning/sensitivity"
)

// Chart sizes in SVG user units; the SVG scales to its container.
const (
	chartWidth  = 640
	chartHeight = 360
)

// ParetoSVG draws every measured model of a tuning run as accuracy against measured
// p95: the SLO's latency limit and accuracy floor as dashed lines, the Pareto
// frontier joined, the base model as a square and the accepted variant ringed.
func ParetoSVG(tv *view.TuningView) string {
	pts := tv.Points
	if len(pts) == 0 {
		return emptySVG("no measured variants yet")
	}
	xmax, ymin, ymax := tv.SLOP95Ms, math.Inf(1), math.Inf(-1)
	for _, p := range pts {
		xmax = math.Max(xmax, p.P95Ms)
		ymin, ymax = math.Min(ymin, p.Accuracy), math.Max(ymax, p.Accuracy)
	}
	if tv.AccuracyFloor > 0 {
		ymin, ymax = math.Min(ymin, tv.AccuracyFloor), math.Max(ymax, tv.AccuracyFloor)
	}
	pad := math.Max((ymax-ymin)*0.1, 0.2)
	pl := newPlot(chartWidth, chartHeight, 0, xmax*1.12, ymin-pad, math.Min(ymax+pad, 100))
	pl.axes("measured p95 (ms)", "accuracy (%)")
	if tv.SLOP95Ms > 0 {
		x := pl.px(tv.SLOP95Ms)
		pl.raw(`<line class="slo-p95" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c62828" stroke-dasharray="6 4"/>`, x, pl.top, x, pl.h-pl.bot)
		pl.raw(`<text x="%.1f" y="%.1f" fill="#c62828" text-anchor="end">p95 SLO %s ms</text>`, x-4, pl.top+12, fmtTick(round3(tv.SLOP95Ms)))
	}
	if tv.AccuracyFloor > 0 {
		y := pl.py(tv.AccuracyFloor)
		pl.raw(`<line class="slo-acc" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#6a1b9a" stroke-dasharray="6 4"/>`, pl.left, y, pl.w-pl.right, y)
		pl.raw(`<text x="%.1f" y="%.1f" fill="#6a1b9a" text-anchor="end">accuracy floor %s%%</text>`, pl.w-pl.right-4, y-4, fmtTick(round3(tv.AccuracyFloor)))
	}
	var front []view.ParetoPoint
	for _, p := range pts {
		if p.Frontier {
			front = append(front, p)
		}
	}
	sort.Slice(front, func(i, j int) bool { return front[i].P95Ms < front[j].P95Ms })
	if len(front) > 1 {
		pl.raw(`<polyline class="frontier" fill="none" stroke="#90a4ae" stroke-width="1.5" points="`)
		for _, p := range front {
			pl.raw("%.1f,%.1f ", pl.px(p.P95Ms), pl.py(p.Accuracy))
		}
		pl.raw(`"/>`)
	}
	for _, p := range pts {
		x, y := pl.px(p.P95Ms), pl.py(p.Accuracy)
		colour := "#1565c0"
		if !p.MeetsSLO {
			colour = "#ef6c00"
		}
		title := fmt.Sprintf("%s (iteration %d): p95 %.3f ms, accuracy %.2f%%, drop %.2fpp, sparsity %.1f%%",
			p.VariantID, p.Iteration, p.P95Ms, p.Accuracy, p.AccuracyDrop, 100*p.Sparsity)
		if p.Violation != "" {
			title += "; misses SLO: " + p.Violation
		}
		switch {
		case p.Base:
			pl.raw(`<rect class="pt base" x="%.1f" y="%.1f" width="10" height="10" fill="#455a64"><title>base model: %s</title></rect>`, x-5, y-5, esc(title))
			pl.raw(`<text x="%.1f" y="%.1f" fill="#455a64">base</text>`, x+7, y-6)
		default:
			pl.raw(`<circle class="pt trial" cx="%.1f" cy="%.1f" r="5" fill="%s"><title>%s</title></circle>`, x, y, colour, esc(title))
			lx := x + 7
			if p.Accepted {
				lx = x - 20 // clear of the ring and its label
			}
			pl.raw(`<text x="%.1f" y="%.1f" fill="#333">%d</text>`, lx, y+4, p.Iteration)
		}
		if p.Accepted {
			pl.raw(`<circle class="pt accepted" cx="%.1f" cy="%.1f" r="10" fill="none" stroke="#2e7d32" stroke-width="2.5"><title>accepted: %s</title></circle>`, x, y, esc(title))
			pl.raw(`<text x="%.1f" y="%.1f" fill="#2e7d32" font-weight="bold">accepted</text>`, x+12, y-10)
		}
	}
	legend(pl, false, []legendItem{{"#455a64", "base"}, {"#1565c0", "meets SLO"}, {"#ef6c00", "misses SLO"}, {"#2e7d32", "accepted (ringed)"}})
	return pl.String()
}

// SensitivitySVG draws each layer's accuracy drop against the share of it pruned.
func SensitivitySVG(c *sensitivity.Curves) string {
	if c == nil || len(c.Layers) == 0 || len(c.Ratios) == 0 {
		return emptySVG("no sensitivity curves yet")
	}
	ymax := 1.0
	for _, l := range c.Layers {
		for _, d := range l.Drop {
			ymax = math.Max(ymax, d)
		}
	}
	pl := newPlot(chartWidth, chartHeight, 0, 1, math.Min(0, minDrop(c)), ymax*1.08)
	pl.axes("share of the layer pruned", "accuracy drop (percentage points)")
	var items []legendItem
	for i, l := range c.Layers {
		colour := palette[i%len(palette)]
		pl.raw(`<polyline class="curve" fill="none" stroke="%s" stroke-width="2" points="`, colour)
		for j, r := range c.Ratios {
			pl.raw("%.1f,%.1f ", pl.px(r), pl.py(l.Drop[j]))
		}
		pl.raw(`"><title>%s</title></polyline>`, esc(l.Layer))
		for j, r := range c.Ratios {
			pl.raw(`<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"><title>%s at %.0f%%: drop %.2fpp</title></circle>`,
				pl.px(r), pl.py(l.Drop[j]), colour, esc(l.Layer), 100*r, l.Drop[j])
		}
		items = append(items, legendItem{colour, l.Layer})
	}
	legend(pl, true, items)
	return pl.String()
}

func minDrop(c *sensitivity.Curves) float64 {
	m := 0.0
	for _, l := range c.Layers {
		for _, d := range l.Drop {
			m = math.Min(m, d)
		}
	}
	return m
}

type legendItem struct{ colour, label string }

// legend draws items in the top-left corner of the plot area, or the bottom-right one
// (where a Pareto chart has no points: slow and inaccurate).
func legend(pl *plot, topLeft bool, items []legendItem) {
	x, y := pl.left+8, pl.top+14
	if !topLeft {
		x, y = pl.w-pl.right-130, pl.h-pl.bot-float64(15*len(items))+4
	}
	for i, it := range items {
		if i >= 12 {
			pl.raw(`<text x="%.1f" y="%.1f" fill="#555">… %d more</text>`, x, y+4, len(items)-i)
			break
		}
		pl.raw(`<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f" fill="#222">%s</text>`,
			x, y-5, it.colour, x+14, y+4, esc(it.label))
		y += 15
	}
}

func emptySVG(msg string) string {
	return fmt.Sprintf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d 60" width="100%%" class="chart empty" font-family="system-ui, sans-serif" font-size="13"><text x="10" y="35" fill="#777">%s</text></svg>`, chartWidth, esc(msg))
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
