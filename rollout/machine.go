package rollout

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Next takes one step of rollout r at now given what is observed, and returns the
// rollout after the step and the actions the step needs carried out. It is pure: r
// is left alone, and the same inputs give the same outputs.
//
// The caller's contract, which keeps a failover from skipping or repeating a stage:
//  1. store the returned rollout (fenced, compare-and-swap) whenever it changed;
//  2. carry out the actions, using Action.ID to de-duplicate repeats;
//  3. store Executed(rollout, time.Now()).
//
// Until Executed is stored, Next returns the same pending actions again, with the
// same IDs, and takes no other step. A step at a time: pending enters stage 0;
// baking judges the stage's gate (a report outside the SLO fails it at once; it
// passes once the bake time elapsed and every new device reported, MinReports in
// all); a pass moves to promoting, and promoting enters the next stage or succeeds
// after the last; a failure rolls every device the rollout reached back to
// Previous and feeds the reason back to tuning. Paused and final rollouts do not
// move.
func Next(r Rollout, obs Observations, now time.Time) (Rollout, []Action) {
	if len(r.Pending) > 0 {
		return r, cloneActions(r.Pending)
	}
	switch r.State {
	case StatePending:
		if r.Stage >= 0 {
			return r, nil
		}
		return enterStage(r, obs, now, 0)
	case StatePromoting:
		if r.Stage+1 >= len(r.Plan.Stages) {
			out := r.clone()
			out.Pending = []Action{{ID: r.ID + "-succeeded", Kind: ActionSucceeded, Stage: r.Stage, Variant: r.Variant}}
			out.transition(now, StateSucceeded, fmt.Sprintf("%s: succeeded: %d of %d stages passed, %d devices run %s",
				r.scope(), r.StagesPassed(), len(r.Plan.Stages), len(r.Installed()), r.Variant))
			return out, cloneActions(out.Pending)
		}
		return enterStage(r, obs, now, r.Stage+1)
	case StateBaking:
		if r.StageStartedAt.IsZero() || r.Stage < 0 || r.Stage >= len(r.Cohorts) {
			return r, nil
		}
		verdict, res, msg, remeasure := evaluateGate(r, obs, now)
		switch verdict {
		case gatePass:
			out := r.clone()
			out.Gates = append(out.Gates, res)
			out.transition(now, StatePromoting, msg)
			return out, nil
		case gateFail:
			out := r.clone()
			out.Gates = append(out.Gates, res)
			out.Pending = rollbackActions(r, r.ID+"-rollback", msg)
			out.Pending = append(out.Pending, Action{ID: fmt.Sprintf("%s-s%d-feedback", r.ID, r.Stage), Kind: ActionFeedback,
				Stage: r.Stage, Variant: r.Variant, Devices: res.Failing, Reason: msg})
			out.transition(now, StateRolledBack, msg)
			return out, cloneActions(out.Pending)
		}
		var acts []Action
		out := r.clone()
		for _, id := range slices.Sorted(maps.Keys(remeasure)) {
			if r.remeasureAsked(id, remeasure[id]) != nil {
				continue
			}
			out.Remeasures = append(out.Remeasures, Remeasure{Device: id, Violations: remeasure[id], At: now})
			acts = append(acts, Action{ID: fmt.Sprintf("%s-s%d-remeasure-%s-%d", r.ID, r.Stage, id, remeasure[id]),
				Kind: ActionRemeasure, Stage: r.Stage, Variant: r.Variant, Devices: []string{id}})
		}
		if len(acts) == 0 && msg == r.Message {
			return r, nil
		}
		out.Message = msg
		out.UpdatedAt = now
		if len(acts) > 0 {
			out.Pending = acts
			out.record(now, out.State, msg)
			return out, cloneActions(acts)
		}
		return out, nil
	}
	return r, nil
}

// Executed records that the pending actions were carried out at now: the bake time
// of a stage whose installs just went out starts counting.
func Executed(r Rollout, now time.Time) Rollout {
	if len(r.Pending) == 0 {
		return r
	}
	out := r.clone()
	out.Pending = nil
	out.UpdatedAt = now
	if out.State == StateBaking && out.StageStartedAt.IsZero() {
		out.StageStartedAt = now
	}
	if out.State == StatePaused && out.PausedFrom == StateBaking && out.StageStartedAt.IsZero() {
		out.StageStartedAt = now
	}
	return out
}

// enterStage starts stage k: it picks the devices the stage adds, deterministically,
// and asks for their install.
func enterStage(r Rollout, obs Observations, now time.Time, k int) (Rollout, []Action) {
	installed := r.Installed()
	have := map[string]bool{}
	for _, id := range installed {
		have[id] = true
	}
	var candidates []string
	for _, id := range obs.Devices {
		if !have[id] {
			candidates = append(candidates, id)
		}
	}
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	n := len(installed) + len(candidates)
	if n == 0 {
		msg := fmt.Sprintf("%s: waiting: class %s has no devices", r.scope(), r.Class)
		if r.Message == msg {
			return r, nil
		}
		out := r.clone()
		out.Message = msg
		out.UpdatedAt = now
		return out, nil
	}
	pct := r.Plan.Stages[k]
	target := StageTarget(pct, n, len(installed))
	if k == len(r.Plan.Stages)-1 {
		target = n
	}
	cohort := SelectCohort(r.ID, candidates, target-len(installed))

	out := r.clone()
	out.Stage = k
	out.Cohorts = append(out.Cohorts, cohort)
	out.StageStartedAt = time.Time{}
	out.Remeasures = nil
	if len(cohort) == 0 {
		// Every device runs the variant already: nothing to bake in this stage.
		msg := fmt.Sprintf("%s: stage %d (%v%%): no devices left to add; all %d run the variant", r.scope(), k, pct, len(installed))
		out.Gates = append(out.Gates, GateResult{Stage: k, Passed: true, At: now, Reason: msg})
		out.transition(now, StatePromoting, msg)
		return out, nil
	}
	out.Pending = []Action{{ID: fmt.Sprintf("%s-s%d-install", r.ID, k), Kind: ActionInstall, Stage: k,
		Variant: r.Variant, Devices: cohort}}
	out.transition(now, StateBaking, fmt.Sprintf("%s: stage %d (%v%%): installing on %d devices (%d of %d)",
		r.scope(), k, pct, len(cohort), target, n))
	return out, cloneActions(out.Pending)
}

// rollbackActions asks every device the rollout reached to return to Previous.
func rollbackActions(r Rollout, id, reason string) []Action {
	devices := r.Installed()
	if len(devices) == 0 {
		return nil
	}
	return []Action{{ID: id, Kind: ActionRollback, Stage: r.Stage, Variant: r.Previous, Devices: devices, Reason: reason}}
}

// cloneActions deep-copies actions, so callers never share a rollout's slices.
func cloneActions(acts []Action) []Action {
	if len(acts) == 0 {
		return nil
	}
	out := slices.Clone(acts)
	for i := range out {
		out[i].Devices = slices.Clone(acts[i].Devices)
	}
	return out
}
