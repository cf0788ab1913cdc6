package report

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// plot is a chart area mapping data coordinates to SVG pixels.
type plot struct {
	w, h                  float64 // whole image
	left, right, top, bot float64 // margins
	x0, x1, y0, y1        float64 // data ranges
	b                     strings.Builder
}

func newPlot(w, h, x0, x1, y0, y1 float64) *plot {
	if !(x1 > x0) {
		x0, x1 = x0-1, x0+1
	}
	if !(y1 > y0) {
		y0, y1 = y0-1, y0+1
	}
	p := &plot{w: w, h: h, left: 58, right: 16, top: 14, bot: 44, x0: x0, x1: x1, y0: y0, y1: y1}
	fmt.Fprintf(&p.b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="100%%" role="img" class="chart" font-family="system-ui, sans-serif" font-size="11">`, w, h)
	return p
}

func (p *plot) px(x float64) float64 {
	return p.left + (x-p.x0)/(p.x1-p.x0)*(p.w-p.left-p.right)
}

func (p *plot) py(y float64) float64 {
	return p.h - p.bot - (y-p.y0)/(p.y1-p.y0)*(p.h-p.top-p.bot)
}

// axes draws the frame, grid, ticks and axis titles.
func (p *plot) axes(xTitle, yTitle string) {
	fmt.Fprintf(&p.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#fff" stroke="#999"/>`,
		p.left, p.top, p.w-p.left-p.right, p.h-p.top-p.bot)
	for _, t := range ticks(p.x0, p.x1, 6) {
		x := p.px(t)
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, p.top, x, p.h-p.bot)
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#444">%s</text>`, x, p.h-p.bot+14, fmtTick(t))
	}
	for _, t := range ticks(p.y0, p.y1, 5) {
		y := p.py(t)
		fmt.Fprintf(&p.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, p.left, y, p.w-p.right, y)
		fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#444">%s</text>`, p.left-5, y+4, fmtTick(t))
	}
	fmt.Fprintf(&p.b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#222">%s</text>`,
		(p.left+p.w-p.right)/2, p.h-8, esc(xTitle))
	fmt.Fprintf(&p.b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle" fill="#222">%s</text>`,
		(p.top+p.h-p.bot)/2, esc(yTitle))
}

func (p *plot) raw(format string, a ...any) { fmt.Fprintf(&p.b, format, a...) }

func (p *plot) String() string { return p.b.String() + "</svg>" }

// ticks returns about n round values spanning [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for t := math.Ceil(lo/step) * step; t <= hi+step*1e-9; t += step {
		out = append(out, math.Round(t/step)*step)
	}
	return out
}

func fmtTick(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func esc(s string) string { return html.EscapeString(s) }

// palette is a set of distinguishable line colours.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}
