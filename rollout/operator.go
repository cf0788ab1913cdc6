package rollout

import (
	"errors"
	"fmt"
	"time"
)

// Errors of operator commands.
var (
	// ErrFinished is returned for a command on a rollout in a final state.
	ErrFinished = errors.New("rollout has finished")
	// ErrPaused is returned when pausing a paused rollout.
	ErrPaused = errors.New("rollout is paused already")
	// ErrNotPaused is returned when resuming a rollout that is not paused.
	ErrNotPaused = errors.New("rollout is not paused")
	// ErrNotStarted is returned when promoting a rollout whose first stage has not
	// started.
	ErrNotStarted = errors.New("rollout has not started a stage yet")
)

// Pause freezes r: Next takes no step until Resume. Pending actions still go out.
// It returns ErrFinished or ErrPaused when r cannot be paused.
func Pause(r Rollout, now time.Time, reason string) (Rollout, error) {
	if err := r.operable("pause"); err != nil {
		return r, err
	}
	if r.State == StatePaused {
		return r, fmt.Errorf("%s: pause: %w", r.scope(), ErrPaused)
	}
	out := r.clone()
	out.PausedFrom = r.State
	out.transition(now, StatePaused, fmt.Sprintf("%s: paused by operator at stage %d%s", r.scope(), r.Stage, because(reason)))
	return out, nil
}

// Resume continues a paused rollout where it was paused; the bake clock of the
// current stage kept running meanwhile. It returns ErrFinished or ErrNotPaused.
func Resume(r Rollout, now time.Time) (Rollout, error) {
	if err := r.operable("resume"); err != nil {
		return r, err
	}
	if r.State != StatePaused {
		return r, fmt.Errorf("%s: resume: state is %s: %w", r.scope(), r.State, ErrNotPaused)
	}
	out := r.clone()
	to := r.PausedFrom
	if to == "" {
		to = StatePending
	}
	out.PausedFrom = ""
	out.transition(now, to, fmt.Sprintf("%s: resumed by operator", r.scope()))
	return out, nil
}

// Promote passes the current stage's gate by hand, without waiting for its bake time
// and reports: the next step enters the next stage (or succeeds after the last). A
// paused rollout is resumed. It returns ErrFinished, or ErrNotStarted before the
// first stage.
func Promote(r Rollout, now time.Time, reason string) (Rollout, error) {
	if err := r.operable("promote"); err != nil {
		return r, err
	}
	state := r.State
	if state == StatePaused {
		state = r.PausedFrom
	}
	if r.Stage < 0 || state == StatePending {
		return r, fmt.Errorf("%s: promote: %w; it starts at the next step", r.scope(), ErrNotStarted)
	}
	out := r.clone()
	out.PausedFrom = ""
	msg := fmt.Sprintf("%s: stage %d promoted by operator%s", r.scope(), r.Stage, because(reason))
	if state == StateBaking {
		out.Gates = append(out.Gates, GateResult{Stage: r.Stage, Passed: true, At: now, Reason: msg, Promoted: true})
	}
	out.transition(now, StatePromoting, msg)
	return out, nil
}

// Abort ends r and sends every device it reached back to Previous: the returned
// rollout holds the rollback as a pending action, carried out as Next describes. It
// returns ErrFinished for a rollout that has ended.
func Abort(r Rollout, now time.Time, reason string) (Rollout, error) {
	if err := r.operable("abort"); err != nil {
		return r, err
	}
	out := r.clone()
	msg := fmt.Sprintf("%s: aborted by operator at stage %d%s", r.scope(), r.Stage, because(reason))
	// Installs still pending never went out for sure; the rollback covers them too.
	out.Pending = rollbackActions(r, r.ID+"-rollback", msg)
	out.PausedFrom = ""
	out.transition(now, StateAborted, msg)
	return out, nil
}

func (r Rollout) operable(cmd string) error {
	if r.State.Final() {
		return fmt.Errorf("%s: %s: state is %s: %w", r.scope(), cmd, r.State, ErrFinished)
	}
	return nil
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ": " + reason
}
