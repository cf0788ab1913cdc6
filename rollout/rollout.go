package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// State is where a rollout stands.
type State string

// Rollout states. Succeeded, RolledBack and Aborted are final.
const (
	// StatePending: created; the first stage starts once the class has devices.
	StatePending State = "pending"
	// StateBaking: the current stage's cohort runs the variant; its gate is open.
	StateBaking State = "baking"
	// StatePaused: an operator froze the rollout; nothing moves until Resume.
	StatePaused State = "paused"
	// StatePromoting: the current stage passed; the next step starts the next
	// stage, or ends the rollout after the last.
	StatePromoting State = "promoting"
	// StateSucceeded: every stage passed; the variant is the class's current one.
	StateSucceeded State = "succeeded"
	// StateRolledBack: a gate failed; the devices were sent back to Previous.
	StateRolledBack State = "rolled-back"
	// StateAborted: an operator aborted; the devices were sent back to Previous.
	StateAborted State = "aborted"
)

// Final reports whether s is a final state.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateRolledBack || s == StateAborted
}

// maxHistory bounds the events kept in a rollout.
const maxHistory = 100

// Rollout is one variant moving across one class in stages. It is a value: the
// functions of this package return changed copies.
type Rollout struct {
	ID      string `json:"id"`
	Class   string `json:"class"`
	Variant string `json:"variant"`
	// Previous is the variant the class ran before; rollbacks return to it ("" when
	// the class had none).
	Previous string `json:"previous,omitempty"`
	Plan     Plan   `json:"plan"`
	State    State  `json:"state"`
	// PausedFrom is the state a paused rollout resumes to.
	PausedFrom State `json:"pausedFrom,omitempty"`
	// Stage is the index in Plan.Stages of the current stage; -1 before the first.
	Stage int `json:"stage"`
	// Cohorts holds, per stage entered, the devices that stage added (sorted).
	Cohorts [][]string `json:"cohorts"`
	// StageStartedAt is when the current stage's install commands went out (zero
	// until then): the bake time counts from here.
	StageStartedAt time.Time `json:"stageStartedAt"`
	// Gates holds the decided gate of every stage entered, in order.
	Gates []GateResult `json:"gates,omitempty"`
	// Pending are actions decided but not yet confirmed carried out (see Next).
	Pending []Action `json:"pending,omitempty"`
	// Remeasures are the current stage's requests to measure a device again, made
	// when its latest report broke only the latency SLO and too few in a row did to
	// fail the gate (Plan.LatencyConfirmations).
	Remeasures []Remeasure `json:"remeasures,omitempty"`
	// Message says what the rollout waits for, or why it ended.
	Message   string    `json:"message,omitempty"`
	History   []Event   `json:"history,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Event is one entry of a rollout's history.
type Event struct {
	At      time.Time `json:"at"`
	Stage   int       `json:"stage"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Message string    `json:"message"`
}

// Remeasure is one request to measure a device again before its gate is judged.
type Remeasure struct {
	Device string `json:"device"`
	// Violations is how many reports in a row broke the latency SLO when it was made.
	Violations int       `json:"violations"`
	At         time.Time `json:"at"`
}

// GateResult is the verdict of one stage's gate.
type GateResult struct {
	Stage  int       `json:"stage"`
	Passed bool      `json:"passed"`
	At     time.Time `json:"at"`
	// Reason says why the gate failed or how it passed.
	Reason  string `json:"reason"`
	Reports int    `json:"reports"`
	Devices int    `json:"devices"`
	// WorstP95 is the largest p95 among the reports judged.
	WorstP95 profiles.Duration `json:"worstP95,omitempty"`
	// Failing lists the devices whose reports broke the SLO.
	Failing []string `json:"failing,omitempty"`
	// Promoted is true when an operator promoted past the gate.
	Promoted bool `json:"promoted,omitempty"`
}

// ActionKind says what an Action asks the coordinator to do.
type ActionKind string

// Action kinds.
const (
	// ActionInstall: send the variant to Devices (InstallCommand).
	ActionInstall ActionKind = "install"
	// ActionRollback: send Devices back to the rollout's Previous variant
	// (RollbackCommand).
	ActionRollback ActionKind = "rollback"
	// ActionFeedback: a gate failed; feed Reason back into the class's tuning.
	ActionFeedback ActionKind = "feedback"
	// ActionSucceeded: make Variant the class's current variant, so devices that
	// join later receive it.
	ActionSucceeded ActionKind = "succeeded"
	// ActionRemeasure: ask Devices, which run the variant, to benchmark it again
	// (BenchmarkCommand with purpose "gate"): a latency violation must repeat
	// Plan.LatencyConfirmations times in a row before it fails a gate.
	ActionRemeasure ActionKind = "remeasure"
)

// Action is a side effect the coordinator carries out for a rollout. ID is
// deterministic (the same decision always has the same ID): use it, with the device
// ID for per-device commands, as the message ID so a repeated action is de-duplicated.
type Action struct {
	ID      string     `json:"id"`
	Kind    ActionKind `json:"kind"`
	Stage   int        `json:"stage"`
	Variant string     `json:"variant,omitempty"`
	Devices []string   `json:"devices,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// New returns a pending rollout of variant to class, replacing previous. The plan's
// unset fields take their defaults. The error is a profiles.ErrorList.
func New(id, class, variant, previous string, plan Plan, now time.Time) (Rollout, error) {
	plan = plan.WithDefaults()
	var list profiles.ErrorList
	for _, f := range []struct{ field, v string }{{"id", id}, {"class", class}, {"variant", variant}} {
		if err := profiles.ValidateName(f.v); err != nil {
			list = append(list, &profiles.FieldError{Field: f.field, Detail: err.Error()})
		}
	}
	if previous != "" {
		if err := profiles.ValidateName(previous); err != nil {
			list = append(list, &profiles.FieldError{Field: "previous", Detail: err.Error()})
		}
	}
	if previous == variant && variant != "" {
		list = append(list, &profiles.FieldError{Field: "variant", Detail: fmt.Sprintf("%q is already the class's variant", variant)})
	}
	if err := plan.Validate("plan"); err != nil {
		list = append(list, err.(profiles.ErrorList)...)
	}
	if len(list) > 0 {
		return Rollout{}, fmt.Errorf("rollout: new: %w", list)
	}
	r := Rollout{ID: id, Class: class, Variant: variant, Previous: previous, Plan: plan,
		State: StatePending, Stage: -1, CreatedAt: now, UpdatedAt: now,
		Message: "waiting for the first stage to start"}
	r.record(now, StatePending, "created")
	return r, nil
}

// Installed returns every device the rollout has sent the variant to, sorted.
func (r Rollout) Installed() []string {
	var out []string
	for _, c := range r.Cohorts {
		out = append(out, c...)
	}
	slices.Sort(out)
	return out
}

// StagePercent returns the current stage's percentage, 0 before the first stage.
func (r Rollout) StagePercent() float64 {
	if r.Stage < 0 || r.Stage >= len(r.Plan.Stages) {
		return 0
	}
	return r.Plan.Stages[r.Stage]
}

// StagesPassed counts the stages whose gate passed.
func (r Rollout) StagesPassed() int {
	n := 0
	for _, g := range r.Gates {
		if g.Passed {
			n++
		}
	}
	return n
}

// clone returns a deep copy of r, so functions never alter their input.
func (r Rollout) clone() Rollout {
	c := r
	c.Plan.Stages = slices.Clone(r.Plan.Stages)
	c.Cohorts = make([][]string, len(r.Cohorts))
	for i, co := range r.Cohorts {
		c.Cohorts[i] = slices.Clone(co)
	}
	c.Gates = slices.Clone(r.Gates)
	for i := range c.Gates {
		c.Gates[i].Failing = slices.Clone(r.Gates[i].Failing)
	}
	c.Pending = cloneActions(r.Pending)
	c.Remeasures = slices.Clone(r.Remeasures)
	c.History = slices.Clone(r.History)
	return c
}

// transition moves r to state to and records it.
func (r *Rollout) transition(now time.Time, to State, msg string) {
	from := r.State
	r.State = to
	r.Message = msg
	r.UpdatedAt = now
	r.History = append(r.History, Event{At: now, Stage: r.Stage, From: from, To: to, Message: msg})
	r.trimHistory()
}

func (r *Rollout) record(now time.Time, to State, msg string) {
	r.History = append(r.History, Event{At: now, Stage: r.Stage, From: r.State, To: to, Message: msg})
	r.trimHistory()
}

func (r *Rollout) trimHistory() {
	if n := len(r.History); n > maxHistory {
		r.History = append(r.History[:0:0], r.History[n-maxHistory:]...)
	}
}

// scope prefixes messages with the rollout and stage, as errors and reasons read:
// "rollout r1: stage 2 gate: ...".
func (r Rollout) scope() string { return fmt.Sprintf("rollout %s", r.ID) }
