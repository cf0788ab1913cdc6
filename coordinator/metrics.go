package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the coordinator's Prometheus series, served on /metrics.
type metrics struct {
	devices       *prometheus.GaugeVec
	registrations *prometheus.CounterVec
	heartbeats    *prometheus.CounterVec
	reports       *prometheus.CounterVec
	commands      *prometheus.CounterVec
	published     prometheus.Counter
	replacements  prometheus.Counter
	leader        prometheus.Gauge
	leaderChanges prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		devices: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "devices",
			Help: "Registered devices by class and presence (live or stale).",
		}, []string{"class", "presence"}),
		registrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "registrations_total",
			Help: "Registration requests handled, by result (accepted, rejected, error).",
		}, []string{"result"}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "heartbeats_total",
			Help: "Heartbeats received, by result (ok, rejected, unknown_device).",
		}, []string{"result"}),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "reports_ingested_total",
			Help: "Reports taken from FLEET_REPORT, by result (applied, duplicate, rejected, error).",
		}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "commands_sent_total",
			Help: "Commands published to FLEET_CMD, by kind.",
		}, []string{"kind"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "variants_published_total",
			Help: "Model variants put into the object store and signed.",
		}),
		replacements: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "device_replacements_total",
			Help: "Devices moved to another class because classes changed.",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "leader",
			Help: "1 while this coordinator is the leader, else 0.",
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "fleetprune", Subsystem: "coordinator", Name: "leader_terms_total",
			Help: "Terms of leadership this coordinator has started.",
		}),
	}
	reg.MustRegister(m.devices, m.registrations, m.heartbeats, m.reports, m.commands,
		m.published, m.replacements, m.leader, m.leaderChanges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
