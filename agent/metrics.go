package agent

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the agent's Prometheus metrics, labelled by device so that many local
// agents can share one registry.
type metrics struct {
	latency       *prometheus.HistogramVec
	reports       *prometheus.CounterVec
	refused       *prometheus.CounterVec
	commands      *prometheus.CounterVec
	registrations *prometheus.CounterVec
	heartbeats    *prometheus.CounterVec
}

func newMetrics(r prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "benchmark_latency_seconds",
			Help:    "Latency of single timed benchmark runs of a variant on this device.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 1.6, 24),
		}, []string{"device", "purpose"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "reports_sent_total",
			Help: "Reports published to the report stream, by kind.",
		}, []string{"device", "kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "refused_artifacts_total",
			Help: "Artifacts or commands refused, by reason (digest, signature, malformed, ...).",
		}, []string{"device", "reason"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "commands_total",
			Help: "Commands handled, by kind and outcome.",
		}, []string{"device", "kind", "outcome"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "registrations_total",
			Help: "Registration attempts, by result.",
		}, []string{"device", "result"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "agent", Name: "heartbeats_sent_total",
			Help: "Heartbeats published.",
		}, []string{"device"}),
	}
	if r == nil {
		return m, nil
	}
	var err error
	m.latency, err = register(r, m.latency)
	if err != nil {
		return nil, err
	}
	for _, c := range []**prometheus.CounterVec{&m.reports, &m.refused, &m.commands, &m.registrations, &m.heartbeats} {
		if *c, err = register(r, *c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// register registers c, or returns the collector registered before it by another
// agent of this process.
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
