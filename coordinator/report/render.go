package report

import (
	"fmt"
	"html/template"
	"io"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
)

// Render writes the self-contained HTML report of a class: its SLO and status, the
// tuning trials as a table and a Pareto chart, the base model's sensitivity curves,
// the variants, the devices and the rollout history.
func Render(w io.Writer, rep *view.ClassReport) error {
	if rep == nil {
		return fmt.Errorf("report: nothing to render")
	}
	data := struct {
		*view.ClassReport
		ParetoChart      template.HTML
		SensitivityChart template.HTML
	}{
		ClassReport: rep,
		// The charts are built by this package from numbers and escaped labels.
		ParetoChart:      template.HTML(ParetoSVG(&rep.Tuning)),
		SensitivityChart: template.HTML(SensitivitySVG(rep.Sensitivity)),
	}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("report: render class %s: %w", rep.Class.Name, err)
	}
	return nil
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"ms":  func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) },
	"f2":  func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"f3":  func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"add1": func(i int) int { return i + 1 },
	"si":   si,
}).Parse(pageHTML))

// si formats a count with a k/M/G suffix.
func si(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>fleetprune report: {{.Class.Name}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;width:100%;font-size:13px;margin:.5em 0}
th,td{border-bottom:1px solid #e5e5e5;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f7fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;background:#607d8b}
.met{background:#2e7d32}.infeasible{background:#c62828}.tuning{background:#1565c0}.waiting,.untuned{background:#757575}
.ok{color:#2e7d32}.bad{color:#c62828}.muted{color:#777}
.chart{max-width:760px;display:block}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px}dt{color:#555}dd{margin:0}
</style></head><body>
<h1>Class {{.Class.Name}} <span class="badge {{.Class.Status}}">{{.Class.Status}}</span></h1>
<p class="muted">fleetprune report, etcd revision {{.Revision}}, generated {{time .GeneratedAt}}</p>
<h2>Service level</h2>
<dl>
<dt>base model</dt><dd>{{.Class.BaseModel}}</dd>
<dt>p95 latency</dt><dd>{{.Class.SLO.P95Latency}}</dd>
<dt>largest accuracy drop</dt><dd>{{f2 .Class.SLO.MaxAccuracyDrop}} pp</dd>
{{if .Class.SLO.MaxModelBytes}}<dt>largest model</dt><dd>{{.Class.SLO.MaxModelBytes}}</dd>{{end}}
{{if .Class.SLO.MaxPeakMemory}}<dt>peak memory</dt><dd>{{.Class.SLO.MaxPeakMemory}}</dd>{{end}}
<dt>devices</dt><dd>{{.Class.Devices}} ({{.Class.LiveDevices}} live, {{.Class.StaleDevices}} stale)</dd>
{{with .Class.Tuning}}
<dt>tuning</dt><dd>generation {{.Generation}}, phase {{.Phase}}, {{.Iterations}} iterations</dd>
{{if .Verdict}}<dt>verdict</dt><dd><b>{{.Verdict}}</b>{{if .Reason}}: {{.Reason}}{{end}}</dd>{{end}}
{{if .Accepted}}<dt>accepted variant</dt><dd>{{.Accepted}}</dd>{{end}}
{{if .RetuneReason}}<dt>retuned because</dt><dd>{{.RetuneReason}}</dd>{{end}}
{{if .Message}}<dt>message</dt><dd>{{.Message}}</dd>{{end}}
{{end}}
</dl>
<h2>Variants tried: accuracy against measured p95</h2>
{{.ParetoChart}}
<table><thead><tr><th>#</th><th>variant</th><th>budget</th><th>p95 ms</th><th>accuracy %</th><th>drop pp</th><th>sparsity</th><th>MACs</th><th>params</th><th>SLO</th></tr></thead><tbody>
{{range .Tuning.Points}}<tr><td class="n">{{if .Base}}base{{else}}{{.Iteration}}{{end}}</td><td>{{.VariantID}}{{if .Accepted}} <span class="badge met">accepted</span>{{end}}</td>
<td class="n">{{f3 .Budget}}</td><td class="n">{{f3 .P95Ms}}</td><td class="n">{{f2 .Accuracy}}</td><td class="n">{{f2 .AccuracyDrop}}</td><td class="n">{{pct .Sparsity}}</td>
<td class="n">{{si .MACs}}</td><td class="n">{{si .Params}}</td><td>{{if .MeetsSLO}}<span class="ok">met</span>{{else}}<span class="bad">{{.Violation}}</span>{{end}}</td></tr>
{{else}}<tr><td colspan="10" class="muted">no measured variants yet</td></tr>{{end}}
</tbody></table>
<h2>Sensitivity of the base model</h2>
{{.SensitivityChart}}
{{with .Sensitivity}}<p class="muted">{{.Method}} pruning, {{.Samples}} samples of {{.Dataset}}, baseline accuracy {{f2 .Baseline}}%.</p>{{end}}
<h2>Published variants</h2>
<table><thead><tr><th>variant</th><th>created</th><th>size</th><th>sha256</th><th>devices running it</th></tr></thead><tbody>
{{range .Variants}}<tr><td>{{.ID}}{{if .Accepted}} <span class="badge met">accepted</span>{{end}}</td><td>{{time .CreatedAt}}</td><td class="n">{{.SizeBytes}}</td><td><code>{{printf "%.16s" .SHA256}}…</code></td><td class="n">{{.Devices}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">none</td></tr>{{end}}
</tbody></table>
<h2>Devices</h2>
<table><thead><tr><th>device</th><th>presence</th><th>cores</th><th>threads</th><th>variant</th><th>last report</th><th>p95 ms</th></tr></thead><tbody>
{{range .Devices}}<tr><td>{{.ID}}</td><td>{{.Presence}}</td><td class="n">{{.Profile.Cores}}</td><td class="n">{{.Profile.Threads}}</td><td>{{.InstalledVariant}}</td>
<td>{{with .LastReport}}{{.Kind}} {{if .OK}}<span class="ok">ok</span>{{else}}<span class="bad">{{.Error}}</span>{{end}}{{end}}</td><td class="n">{{with .LastReport}}{{f3 .P95Ms}}{{end}}</td></tr>
{{else}}<tr><td colspan="7" class="muted">no devices in this class</td></tr>{{end}}
</tbody></table>
<h2>Rollouts</h2>
{{range .Rollouts}}
<h3>{{.ID}}: {{.Variant}} <span class="badge">{{.State}}</span></h3>
<p>replacing {{if .Previous}}{{.Previous}}{{else}}nothing{{end}}; stages {{range $i, $s := .Plan.Stages}}{{if $i}} → {{end}}{{$s}}%{{end}}; {{.StagesPassed}} passed{{if .Message}}; {{.Message}}{{end}}</p>
<table><thead><tr><th>stage</th><th>gate</th><th>reports</th><th>devices</th><th>worst p95</th><th>reason</th></tr></thead><tbody>
{{range .Gates}}<tr><td class="n">{{.Stage}}</td><td>{{if .Passed}}<span class="ok">passed{{if .Promoted}} (promoted){{end}}</span>{{else}}<span class="bad">failed</span>{{end}}</td><td class="n">{{.Reports}}</td><td class="n">{{.Devices}}</td><td>{{.WorstP95}}</td><td>{{.Reason}}</td></tr>
{{else}}<tr><td colspan="6" class="muted">no gate decided yet</td></tr>{{end}}
</tbody></table>
<table><thead><tr><th>at</th><th>stage</th><th>from</th><th>to</th><th>message</th></tr></thead><tbody>
{{range .History}}<tr><td>{{time .At}}</td><td class="n">{{.Stage}}</td><td>{{.From}}</td><td>{{.To}}</td><td>{{.Message}}</td></tr>{{end}}
</tbody></table>
{{else}}<p class="muted">no rollouts of this class yet</p>{{end}}
</body></html>
`
