package dashboard

import (
	"errors"
	"fmt"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
	"github.com/fleetprune/fleetprune/rollout"
)

// Transition applies action to r through the rollout package's pure transition
// functions, so the check and the write cannot disagree. Its errors wrap the rollout
// package's sentinels (rollout.ErrFinished, ErrPaused, ErrNotPaused, ErrNotStarted)
// and ErrNotAllowed.
func Transition(r rollout.Rollout, action Action, now time.Time, reason string) (rollout.Rollout, error) {
	var (
		out rollout.Rollout
		err error
	)
	switch action {
	case ActionPause:
		out, err = rollout.Pause(r, now, reason)
	case ActionResume:
		out, err = rollout.Resume(r, now)
	case ActionPromote:
		out, err = rollout.Promote(r, now, reason)
	case ActionAbort:
		out, err = rollout.Abort(r, now, reason)
	default:
		return r, fmt.Errorf("rollout %s: unknown action %q: %w", r.ID, action, ErrNotAllowed)
	}
	if err != nil {
		return r, fmt.Errorf("%w (%w)", err, ErrNotAllowed)
	}
	return out, nil
}

// allowed checks action against the rollout as read: the dashboard answers 409
// without calling Actions when the transition is refused.
func allowed(ro *view.RolloutView, action Action) error {
	_, err := Transition(ro.Rollout, action, time.Now(), "")
	return err
}

// isTransitionRefused says whether err is a refused rollout transition.
func isTransitionRefused(err error) bool {
	return errors.Is(err, ErrNotAllowed) || errors.Is(err, rollout.ErrFinished) ||
		errors.Is(err, rollout.ErrPaused) || errors.Is(err, rollout.ErrNotPaused) ||
		errors.Is(err, rollout.ErrNotStarted)
}
