package rollout

import (
	"fmt"
	"math"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// Plan defaults and limits.
const (
	// DefaultBakeTime is how long a stage's cohort runs the variant before its gate
	// may pass.
	DefaultBakeTime = 30 * time.Second
	// DefaultMinReports is the fewest reports a stage's gate needs.
	DefaultMinReports = 1
	// DefaultReportTimeout is how long after the bake time a gate waits for missing
	// reports before it fails.
	DefaultReportTimeout = 5 * time.Minute
	// DefaultLatencyConfirmations is how many reports in a row from one device must
	// break the latency SLO to fail a gate: one p95 can be a busy moment's.
	DefaultLatencyConfirmations = 2
	// MaxLatencyConfirmations bounds Plan.LatencyConfirmations.
	MaxLatencyConfirmations = 5
	// MaxStages bounds the number of stages in a plan.
	MaxStages = 10
	// MaxMinReports bounds Plan.MinReports.
	MaxMinReports = 10000
)

// DefaultStages are the cumulative percentages of the class each stage covers.
var DefaultStages = []float64{5, 25, 50, 100}

// Plan is how a rollout proceeds.
type Plan struct {
	// Stages are cumulative percentages of the class's devices, strictly increasing,
	// ending at 100. Every stage adds at least one device while any is left.
	Stages []float64 `json:"stages"`
	// BakeTime is the least time a stage's cohort runs the variant before its gate
	// may pass; 0 lets a gate pass as soon as its reports are in.
	BakeTime profiles.Duration `json:"bakeTime"`
	// MinReports is the fewest reports from the devices a stage adds that its gate
	// needs; every one of those devices must report at least once in any case.
	MinReports int `json:"minReports"`
	// ReportTimeout is how long after BakeTime a gate waits for missing reports
	// before it fails; 0 means DefaultReportTimeout.
	ReportTimeout profiles.Duration `json:"reportTimeout,omitempty"`
	// LatencyConfirmations is how many reports in a row from one device must break
	// the p95 SLO, and nothing else, before the gate fails; after fewer, the device
	// is asked to measure again (ActionRemeasure). Other violations (install or run
	// failed, output parity, inference errors, memory) fail the gate at once. 0 means
	// DefaultLatencyConfirmations; 1 fails on the first slow report.
	LatencyConfirmations int `json:"latencyConfirmations,omitempty"`
}

// DefaultPlan returns the default plan: 5%, 25%, 50%, 100%, DefaultBakeTime,
// DefaultMinReports, DefaultLatencyConfirmations.
func DefaultPlan() Plan {
	return Plan{
		Stages:               append([]float64(nil), DefaultStages...),
		BakeTime:             profiles.Duration(DefaultBakeTime),
		MinReports:           DefaultMinReports,
		LatencyConfirmations: DefaultLatencyConfirmations,
	}
}

// WithDefaults fills unset stages, MinReports and ReportTimeout with their defaults;
// a zero BakeTime stays zero.
func (p Plan) WithDefaults() Plan {
	if len(p.Stages) == 0 {
		p.Stages = append([]float64(nil), DefaultStages...)
	}
	if p.MinReports == 0 {
		p.MinReports = DefaultMinReports
	}
	if p.ReportTimeout == 0 {
		p.ReportTimeout = profiles.Duration(DefaultReportTimeout)
	}
	if p.LatencyConfirmations == 0 {
		p.LatencyConfirmations = DefaultLatencyConfirmations
	}
	return p
}

// Validate checks the plan; the error is a profiles.ErrorList with paths under path.
func (p Plan) Validate(path string) error {
	var list profiles.ErrorList
	add := func(field, format string, args ...any) {
		list = append(list, &profiles.FieldError{Field: joinPath(path, field), Detail: fmt.Sprintf(format, args...)})
	}
	if len(p.Stages) == 0 || len(p.Stages) > MaxStages {
		add("stages", "must have 1 to %d stages, got %d", MaxStages, len(p.Stages))
	}
	for i, s := range p.Stages {
		switch {
		case math.IsNaN(s) || s <= 0 || s > 100:
			add(fmt.Sprintf("stages[%d]", i), "must be a percentage in (0, 100], got %v", s)
		case i > 0 && s <= p.Stages[i-1]:
			add(fmt.Sprintf("stages[%d]", i), "must be larger than the stage before (%v), got %v", p.Stages[i-1], s)
		}
	}
	if n := len(p.Stages); n > 0 && n <= MaxStages && p.Stages[n-1] != 100 {
		add(fmt.Sprintf("stages[%d]", n-1), "the last stage must be 100, got %v", p.Stages[n-1])
	}
	if p.BakeTime < 0 || p.BakeTime.D() > 24*time.Hour {
		add("bakeTime", "must be between 0 and 24h, got %s", p.BakeTime)
	}
	if p.MinReports < 1 || p.MinReports > MaxMinReports {
		add("minReports", "must be between 1 and %d, got %d", MaxMinReports, p.MinReports)
	}
	if p.LatencyConfirmations < 0 || p.LatencyConfirmations > MaxLatencyConfirmations {
		add("latencyConfirmations", "must be between 1 and %d (0: %d), got %d", MaxLatencyConfirmations, DefaultLatencyConfirmations, p.LatencyConfirmations)
	}
	if p.ReportTimeout < 0 || p.ReportTimeout.D() > 24*time.Hour {
		add("reportTimeout", "must be between 0 and 24h, got %s", p.ReportTimeout)
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}
