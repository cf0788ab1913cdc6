package dashboard

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/coordinator/tuning"
	"github.com/fleetprune/fleetprune/rollout"
)

// scrapeTimeout bounds the etcd read of one scrape.
const scrapeTimeout = 5 * time.Second

// Metric descriptions of the state collector. They are gauges computed from etcd at
// each scrape, so every coordinator (leader or standby) reports the same values.
var (
	descIterations = prometheus.NewDesc("fleetprune_class_tuning_iterations",
		"Variants built and measured in the class's current tuning run.", []string{"class"}, nil)
	descGeneration = prometheus.NewDesc("fleetprune_class_tuning_generation",
		"Tuning runs of the class so far (a retune starts a new one).", []string{"class"}, nil)
	descPhase = prometheus.NewDesc("fleetprune_class_tuning_phase",
		"1 for the phase the class's tuning run is in.", []string{"class", "phase"}, nil)
	descVerdict = prometheus.NewDesc("fleetprune_class_verdict",
		"1 for the class's tuning verdict: met, infeasible, or none while tuning.", []string{"class", "verdict"}, nil)
	descSLOP95 = prometheus.NewDesc("fleetprune_class_slo_p95_seconds",
		"The class's p95 latency SLO.", []string{"class"}, nil)
	descAcceptedP95 = prometheus.NewDesc("fleetprune_class_accepted_p95_seconds",
		"p95 latency the probe cohort measured of the class's accepted variant.", []string{"class", "variant"}, nil)
	descAcceptedDrop = prometheus.NewDesc("fleetprune_class_accepted_accuracy_drop",
		"Accuracy drop, in percentage points, of the class's accepted variant.", []string{"class", "variant"}, nil)
	descRollouts = prometheus.NewDesc("fleetprune_rollouts",
		"Rollouts by class and state.", []string{"class", "state"}, nil)
	descRolloutStage = prometheus.NewDesc("fleetprune_rollout_stage",
		"Current stage index of each unfinished rollout (-1 before the first).", []string{"class", "rollout"}, nil)
	descRolloutPercent = prometheus.NewDesc("fleetprune_rollout_stage_percent",
		"Share of the class the current stage of each unfinished rollout covers.", []string{"class", "rollout"}, nil)
	descGates = prometheus.NewDesc("fleetprune_rollout_gates",
		"Decided stage gates of the class's rollouts, by result (passed, failed, promoted by an operator).", []string{"class", "result"}, nil)
	descScrapeOK = prometheus.NewDesc("fleetprune_state_scrape_ok",
		"1 when the last scrape read fleet state from etcd, else 0.", nil, nil)
)

// collector computes gauges from fleet state in etcd at each scrape.
type collector struct {
	reader *view.Reader
	log    func(msg string, args ...any)
}

// RegisterMetrics registers on reg the gauges of tuning (iterations, generation,
// phase and verdict per class, the accepted variant's p95 and accuracy drop) and of
// rollouts (count by state, stage of each unfinished one, gate results), computed
// from etcd at each scrape. Only WithStaleAfter and WithLogger of opts apply.
func RegisterMetrics(reg prometheus.Registerer, etcd clientv3.KV, opts ...Option) error {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return reg.Register(&collector{reader: view.NewReader(etcd, cfg.staleAfter), log: cfg.log.Warn})
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIterations, descGeneration, descPhase, descVerdict, descSLOP95,
		descAcceptedP95, descAcceptedDrop, descRollouts, descRolloutStage, descRolloutPercent, descGates, descScrapeOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	o, err := c.reader.Overview(ctx)
	if err != nil {
		c.log("dashboard: metrics: read fleet state", "err", err)
		ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	phases := []tuning.Phase{tuning.PhaseWaitingDevices, tuning.PhaseMeasuringBase, tuning.PhaseBuilding, tuning.PhaseMeasuring, tuning.PhaseDone}
	for _, cl := range o.Classes {
		gauge(descSLOP95, cl.SLO.P95Latency.D().Seconds(), cl.Name)
		t := cl.Tuning
		if t == nil {
			continue
		}
		gauge(descIterations, float64(t.Iterations), cl.Name)
		gauge(descGeneration, float64(t.Generation), cl.Name)
		for _, p := range phases {
			gauge(descPhase, b2f(t.Phase == p), cl.Name, string(p))
		}
		verdict := t.Verdict
		if verdict == "" {
			verdict = "none"
		}
		for _, v := range []string{string(tuning.Met), string(tuning.Infeasible), "none"} {
			gauge(descVerdict, b2f(v == verdict), cl.Name, v)
		}
		if t.Accepted != "" && t.AcceptedP95Ms > 0 {
			gauge(descAcceptedP95, t.AcceptedP95Ms/1000, cl.Name, t.Accepted)
			gauge(descAcceptedDrop, t.AcceptedAccuracyDrop, cl.Name, t.Accepted)
		}
	}
	type classState struct{ class, state string }
	counts := map[classState]int{}
	gates := map[classState]int{}
	for _, r := range o.Rollouts {
		counts[classState{r.Class, string(r.State)}]++
		if !r.Final {
			gauge(descRolloutStage, float64(r.Stage), r.Class, r.ID)
			gauge(descRolloutPercent, r.StagePercent, r.Class, r.ID)
		}
		for _, g := range r.Gates {
			result := "failed"
			switch {
			case g.Promoted:
				result = "promoted"
			case g.Passed:
				result = "passed"
			}
			gates[classState{r.Class, result}]++
		}
	}
	states := []rollout.State{rollout.StatePending, rollout.StateBaking, rollout.StatePaused, rollout.StatePromoting,
		rollout.StateSucceeded, rollout.StateRolledBack, rollout.StateAborted}
	for _, cl := range o.Classes {
		for _, s := range states {
			gauge(descRollouts, float64(counts[classState{cl.Name, string(s)}]), cl.Name, string(s))
		}
		for _, res := range []string{"passed", "failed", "promoted"} {
			gauge(descGates, float64(gates[classState{cl.Name, res}]), cl.Name, res)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
