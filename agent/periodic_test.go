package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fleetprune/fleetprune/internal/testutil"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

func TestPeriodicReportsAndMetrics(t *testing.T) {
	f := newFleet(t)
	reg := prometheus.NewRegistry()
	a, _ := f.startAgent("dev-6", t.TempDir(), WithThreads(1), WithMetrics(reg), WithPeriodicReports(300*time.Millisecond))
	f.waitRegistered(a)
	reps := f.reports("dev-6")
	// Nothing installed: no periodic reports.
	reps.none(800 * time.Millisecond)

	f.send("dev-6", installCmd("i1", f.goodVariant("v1", lenet(t, 0))))
	if rep := reps.next(60 * time.Second); rep.GetKind() != KindInstall || !rep.GetOk() {
		t.Fatalf("report = %v, want ok install", rep)
	}
	var last uint64
	for i := 0; i < 2; i++ {
		rep := reps.next(30 * time.Second)
		if rep.GetKind() != KindPeriodic || !rep.GetOk() || rep.GetVariantId() != "v1" || rep.GetP95Ns() <= 0 || rep.GetCommandId() != "" {
			t.Fatalf("report = %v, want an ok periodic report of v1", rep)
		}
		if rep.GetSeq() <= last {
			t.Errorf("seq %d after %d", rep.GetSeq(), last)
		}
		last = rep.GetSeq()
	}

	// A second agent on the same registry shares the metric families.
	if _, err := newMetrics(reg); err != nil {
		t.Fatalf("second agent's metrics: %v", err)
	}
	// 2 of the 3 reports above are periodic; more may have come since.
	if got := metricValue(t, reg, "fleetprune_agent_reports_sent_total", "kind", KindInstall); got != 1 {
		t.Errorf("install reports metric = %g, want 1", got)
	}
	testutil.WaitFor(t, 5*time.Second, func() bool {
		return metricValue(t, reg, "fleetprune_agent_reports_sent_total", "kind", KindPeriodic) >= 2
	})
	if n := metricValue(t, reg, "fleetprune_agent_benchmark_latency_seconds", "purpose", KindPeriodic); n < 10 {
		t.Errorf("periodic latency histogram holds %g samples, want >= 10 (2 benchmarks of 5 runs)", n)
	}
	if got := metricValue(t, reg, "fleetprune_agent_registrations_total", "result", "accepted"); got < 1 {
		t.Errorf("accepted registrations metric = %g, want >= 1", got)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, url := testutil.NATS(t)
	nc := testutil.NATSConn(t, url)
	if _, err := New(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("New(nil) err = %v, want ErrConfig", err)
	}
	tests := []struct {
		name string
		opt  Option
	}{
		{"device id with a dot", WithDeviceID("a.b")},
		{"device id with a wildcard", WithDeviceID("dev*")},
		{"negative threads", WithThreads(-1)},
		{"negative quota", WithCPUQuota(-0.5)},
		{"tiny quota", WithCPUQuota(0.001)},
		{"bad label", WithLabels(map[string]string{"bad key": "v"})},
		{"no data dir", WithDataDir("")},
		{"zero timed runs", WithBenchmarkRuns(0, 0)},
		{"inverted backoff", WithRetryBackoff(time.Second, time.Millisecond)},
		{"nil logger", WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(nc, WithDataDir(t.TempDir()), tt.opt)
			if !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
	// Simulated hardware is used as given, with the options on top.
	a, err := New(nc, WithDataDir(t.TempDir()), WithHardware(&fpv1.HardwareProfile{Arch: "arm64", Cores: 4, SimdFlags: []string{"neon"}}),
		WithCPUQuota(1.5), WithLabels(map[string]string{"site": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	p := a.Profile()
	if p.GetArch() != "arm64" || p.GetThreads() != 2 || p.GetCpuQuota() != 1.5 || p.GetLabels()["site"] != "x" {
		t.Errorf("profile = %v, want arm64, 2 threads (ceil 1.5), quota 1.5, label site=x", p)
	}
	if !namePattern.MatchString(a.ID()) {
		t.Errorf("generated device id %q is not a valid name", a.ID())
	}
}

// metricValue gathers reg and returns the value of the dev-6 series of family name
// whose label key is val: a counter's value or a histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name, key, val string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["device"] != "dev-6" || labels[key] != val {
				continue
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
