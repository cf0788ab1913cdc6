// Package abtest times variants of one operation side by side in a benchmark. Each
// iteration runs every variant once, in turn, so that a change in machine load (on a
// shared machine, separate runs swing 1.5-2×) hits all of them alike; the benchmark
// then reports each variant's median and minimum time per run.
package abtest

import (
	"slices"
	"testing"
	"time"
)

// Run warms every variant up once, then times them in turn for b's iterations and
// reports "<name>-median-µs" and "<name>-min-µs" for each. names and runs pair up.
func Run(b *testing.B, names []string, runs []func()) {
	b.Helper()
	if len(names) != len(runs) || len(runs) == 0 {
		b.Fatalf("abtest: %d names for %d variants", len(names), len(runs))
	}
	for _, run := range runs {
		run()
	}
	times := make([][]time.Duration, len(runs))
	for b.Loop() {
		for i, run := range runs {
			t0 := time.Now()
			run()
			times[i] = append(times[i], time.Since(t0))
		}
	}
	for i, name := range names {
		t := times[i]
		slices.Sort(t)
		b.ReportMetric(float64(t[len(t)/2].Nanoseconds())/1e3, name+"-median-µs")
		b.ReportMetric(float64(t[0].Nanoseconds())/1e3, name+"-min-µs")
	}
}
