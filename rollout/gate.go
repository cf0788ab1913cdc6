package rollout

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// Observations is the observed state a step of the machine reads; the coordinator
// gathers it afresh for every call to Next.
type Observations struct {
	// SLO is the class's SLO as it stands now.
	SLO profiles.SLO
	// Devices are the class's devices eligible for the variant now (registered in
	// the class and present).
	Devices []string
	// Reports are the reports of this rollout received so far (filter by rollout ID:
	// an older rollout of the same variant is not evidence). Next judges those of the
	// variant from the devices the rollout reached; the current stage's gate counts
	// those from the devices the stage added.
	Reports []Report
}

// Report is the gist of one benchmark report from a device running the variant.
type Report struct {
	DeviceID string `json:"deviceId"`
	Variant  string `json:"variant"`
	// Received is when the report was received or measured; informational.
	Received time.Time `json:"received"`
	// OK is false when the device could not install or run the variant.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// P95 is the measured 95th-percentile latency.
	P95 time.Duration `json:"p95"`
	// ParityOK is true when the output checksum on the probe batch matched.
	ParityOK        bool              `json:"parityOk"`
	InferenceErrors int               `json:"inferenceErrors"`
	PeakMemory      profiles.ByteSize `json:"peakMemory"`
}

// Violation says how the report breaks slo, or "" when it is within it.
func (rep Report) Violation(slo profiles.SLO) string {
	var v []string
	if !rep.OK {
		msg := "install or run failed"
		if rep.Error != "" {
			msg += ": " + rep.Error
		}
		v = append(v, msg)
	}
	if slo.P95Latency > 0 && rep.P95 > slo.P95Latency.D() {
		v = append(v, fmt.Sprintf("p95 %s > slo %s", rep.P95, slo.P95Latency))
	}
	if rep.OK && !rep.ParityOK {
		v = append(v, "output parity failed on the probe batch")
	}
	if rep.InferenceErrors > 0 {
		v = append(v, fmt.Sprintf("%d inference errors", rep.InferenceErrors))
	}
	if slo.MaxPeakMemory > 0 && rep.PeakMemory > slo.MaxPeakMemory {
		v = append(v, fmt.Sprintf("peak memory %s > slo %s", rep.PeakMemory, slo.MaxPeakMemory))
	}
	return strings.Join(v, ", ")
}

// GrossLatencyFactor is how far over the p95 SLO a report must be to fail a gate at
// once, without confirmations: a busy moment doubles a p95, a device that cannot run
// the variant misses by far more.
const GrossLatencyFactor = 3

// latencyOnly reports whether the report breaks slo by its p95 alone, and by less
// than GrossLatencyFactor times: such a miss needs confirming.
func (rep Report) latencyOnly(slo profiles.SLO) bool {
	if slo.P95Latency <= 0 || rep.P95 <= slo.P95Latency.D() || rep.P95 > GrossLatencyFactor*slo.P95Latency.D() {
		return false
	}
	ok := rep
	ok.P95 = 0
	return ok.Violation(slo) == ""
}

// gateVerdict is what evaluateGate decides.
type gateVerdict int

const (
	gateWait gateVerdict = iota
	gatePass
	gateFail
)

// evaluateGate judges the current stage of r (which is baking) at now. remeasure
// lists the devices whose latest reports broke the latency SLO, and nothing else,
// fewer times in a row than the plan's LatencyConfirmations: they must measure again
// before the gate can pass or fail on them.
func evaluateGate(r Rollout, obs Observations, now time.Time) (verdict gateVerdict, res GateResult, msg string, remeasure map[string]int) {
	stage := r.Stage
	res = GateResult{Stage: stage, At: now}
	newCohort := r.Cohorts[stage]
	installed := map[string]bool{}
	for _, id := range r.Installed() {
		installed[id] = true
	}
	inNew := map[string]bool{}
	for _, id := range newCohort {
		inNew[id] = true
	}
	reported := map[string]bool{}
	failing := map[string]string{}
	perDevice := map[string][]Report{}
	// No time filter: a device of the new cohort runs the variant only since this
	// stage, so all its reports of the variant are this stage's evidence (even one
	// measured before the installs were confirmed); the devices of earlier stages
	// passed their gates, and a bad report from them still fails this one.
	for _, rep := range obs.Reports {
		if rep.Variant != r.Variant || !installed[rep.DeviceID] {
			continue
		}
		if inNew[rep.DeviceID] {
			res.Reports++
			reported[rep.DeviceID] = true
		}
		if rep.P95 > res.WorstP95.D() {
			res.WorstP95 = profiles.Duration(rep.P95)
		}
		perDevice[rep.DeviceID] = append(perDevice[rep.DeviceID], rep)
		if rep.latencyOnly(obs.SLO) {
			continue // judged below, over the device's latest reports
		}
		if v := rep.Violation(obs.SLO); v != "" {
			if _, dup := failing[rep.DeviceID]; !dup {
				failing[rep.DeviceID] = v
			}
		}
	}
	// A latency violation fails the gate when the device's latest reports all broke
	// the SLO, LatencyConfirmations of them in a row; a report within it clears the
	// ones before.
	confirm := max(1, r.Plan.LatencyConfirmations)
	for id, reps := range perDevice {
		if _, done := failing[id]; done {
			continue
		}
		slices.SortStableFunc(reps, func(a, b Report) int { return a.Received.Compare(b.Received) })
		run := 0
		for i := len(reps) - 1; i >= 0 && reps[i].latencyOnly(obs.SLO); i-- {
			run++
		}
		switch {
		case run >= confirm && confirm > 1:
			failing[id] = fmt.Sprintf("%s (%d reports in a row)", reps[len(reps)-1].Violation(obs.SLO), run)
		case run >= confirm:
			failing[id] = reps[len(reps)-1].Violation(obs.SLO)
		case run > 0 && remeasureExpired(r, id, run, now):
			failing[id] = fmt.Sprintf("%s (no new measurement within %s of asking)", reps[len(reps)-1].Violation(obs.SLO), reportTimeout(r.Plan))
		case run > 0:
			if remeasure == nil {
				remeasure = map[string]int{}
			}
			remeasure[id] = run
		}
	}
	res.Devices = len(reported)
	scope := fmt.Sprintf("%s: stage %d gate", r.scope(), stage)
	if len(failing) > 0 {
		ids := make([]string, 0, len(failing))
		for id := range failing {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		res.Failing = ids
		parts := make([]string, 0, len(ids))
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("device %s: %s", id, failing[id]))
		}
		res.Reason = fmt.Sprintf("%s: %s", scope, strings.Join(parts, "; "))
		return gateFail, res, res.Reason, nil
	}
	if len(remeasure) > 0 {
		ids := make([]string, 0, len(remeasure))
		for id := range remeasure {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		parts := make([]string, 0, len(ids))
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("device %s: %d of %d slow reports in a row", id, remeasure[id], confirm))
		}
		return gateWait, res, fmt.Sprintf("stage %d (%v%%): measuring again to confirm: %s", stage, r.StagePercent(), strings.Join(parts, "; ")), remeasure
	}
	baked := now.Sub(r.StageStartedAt)
	bake := r.Plan.BakeTime.D()
	enough := res.Devices == len(newCohort) && res.Reports >= r.Plan.MinReports
	if baked >= bake && enough {
		res.Passed = true
		res.Reason = fmt.Sprintf("%s: passed: %d reports within SLO, every one of %d new devices reported (%d run the variant), baked %s",
			scope, res.Reports, len(newCohort), len(installed), baked.Round(time.Millisecond))
		return gatePass, res, res.Reason, nil
	}
	timeout := reportTimeout(r.Plan)
	if !enough && baked >= bake+timeout {
		res.Reason = fmt.Sprintf("%s: %d of %d devices and %d of %d reports after %s; the rest did not report",
			scope, res.Devices, len(newCohort), res.Reports, r.Plan.MinReports, baked.Round(time.Second))
		return gateFail, res, res.Reason, nil
	}
	wait := fmt.Sprintf("stage %d (%v%%): %d of %d new devices reported, %d of %d reports, baked %s of %s",
		stage, r.StagePercent(), res.Devices, len(newCohort), res.Reports, r.Plan.MinReports,
		min(baked, bake).Round(time.Second), bake)
	return gateWait, res, wait, nil
}

// reportTimeout is the plan's ReportTimeout, or its default.
func reportTimeout(p Plan) time.Duration {
	if t := p.ReportTimeout.D(); t > 0 {
		return t
	}
	return DefaultReportTimeout
}

// remeasureAsked returns the request to measure device id again after run slow
// reports in a row, or nil when none was made.
func (r Rollout) remeasureAsked(id string, run int) *Remeasure {
	for i, q := range r.Remeasures {
		if q.Device == id && q.Violations == run {
			return &r.Remeasures[i]
		}
	}
	return nil
}

// remeasureExpired reports whether device id was asked to measure again after run
// slow reports in a row, longer than the report timeout ago.
func remeasureExpired(r Rollout, id string, run int, now time.Time) bool {
	q := r.remeasureAsked(id, run)
	return q != nil && now.Sub(q.At) >= reportTimeout(r.Plan)
}
