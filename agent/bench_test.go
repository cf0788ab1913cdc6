package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLeNet5Probe measures LeNet-5 at batch 1 the way an agent does (warm-up,
// then timed runs), in five repeats per setting, and reports the median p50 and
// p95 and the spread of p95 across repeats ((max-min)/median), so that SLOs can be
// set above the noise. Settings: in this process with 1 and 2 threads, and in a
// worker process under a 0.5-core cgroup quota when one can be created.
//
//	go test -run '^$' -bench LeNet5Probe -benchtime 1x ./agent/
func BenchmarkLeNet5Probe(b *testing.B) {
	const repeats, runs = 5, 200
	model := filepath.Join(b.TempDir(), "lenet.onnx")
	if err := os.WriteFile(model, lenet(b, 0), 0o644); err != nil {
		b.Fatal(err)
	}
	type setting struct {
		name   string
		runner benchRunner
		thr    int
	}
	settings := []setting{
		{"inprocess-1thread", inProcessRunner{}, 1},
		{"inprocess-2threads", inProcessRunner{}, 2},
	}
	if limit, err := newCPULimit("bench-"+strconv.Itoa(os.Getpid()), 0.5); err == nil {
		b.Cleanup(func() { _ = limit.Close() })
		settings = append(settings, setting{"worker-quota0.5-1thread", workerRunner{argv: []string{os.Args[0]}, limit: limit}, 1})
	} else {
		b.Logf("no cgroup CPU quota setting: %v", err)
	}
	for _, s := range settings {
		b.Run(s.name, func(b *testing.B) {
			for b.Loop() {
				var p50s, p95s []float64
				for r := 0; r < repeats; r++ {
					res, err := s.runner.run(context.Background(), benchSpec{
						ModelPath: model, Warmup: 20, Runs: runs, Batch: 1, Threads: s.thr,
						SampleShape: []int64{1, 28, 28}, ProbeSeed: 1,
					})
					if err != nil {
						b.Fatal(err)
					}
					p50s = append(p50s, float64(res.P50)/1e6)
					p95s = append(p95s, float64(res.P95)/1e6)
				}
				slices.Sort(p50s)
				slices.Sort(p95s)
				med95 := p95s[len(p95s)/2]
				b.ReportMetric(p50s[len(p50s)/2], "p50-ms")
				b.ReportMetric(med95, "p95-ms")
				b.ReportMetric((p95s[len(p95s)-1]-p95s[0])/med95*100, "p95-spread-%")
				b.Logf("%s: p95 per repeat (ms, sorted) %s", s.name, fmtMs(p95s))
			}
		})
	}
}

func fmtMs(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.3f", x)
	}
	return s + " (" + time.Now().UTC().Format(time.TimeOnly) + ")"
}
