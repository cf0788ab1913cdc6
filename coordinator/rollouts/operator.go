package rollouts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/coordinator/tuner"
	"github.com/fleetprune/fleetprune/profiles"
	"github.com/fleetprune/fleetprune/rollout"
)

// RolloutAction applies an operator's pause, resume, promote or abort to rollout id of
// class through the rollout package's transitions and stores it fenced. Errors wrap
// profiles.ErrNotLeader when this coordinator does not lead, profiles.ErrNotFound for
// an unknown rollout, the rollout package's refusals (rollout.ErrFinished, ...) when
// the action is not allowed now, and profiles.ErrConflict when the rollout changed
// meanwhile. It implements dashboard.Actions.
func (c *Controller) RolloutAction(ctx context.Context, class, id string, action dashboard.Action, reason string) error {
	f, ok := c.fleet.LeaderFence()
	if !ok {
		return fmt.Errorf("rollout %s: %s: %w", id, action, profiles.ErrNotLeader)
	}
	r, rev, err := c.ro.Get(ctx, class, id)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "by the operator"
	}
	now := time.Now().UTC()
	var next rollout.Rollout
	switch action {
	case dashboard.ActionPause:
		next, err = rollout.Pause(r, now, reason)
	case dashboard.ActionResume:
		next, err = rollout.Resume(r, now)
	case dashboard.ActionPromote:
		next, err = rollout.Promote(r, now, reason)
	case dashboard.ActionAbort:
		next, err = rollout.Abort(r, now, reason)
	default:
		return fmt.Errorf("rollout %s: action %q: %w", id, action, profiles.ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("rollout %s: %s: %w", id, action, err)
	}
	if _, err := c.ro.Put(ctx, f, next, rev); err != nil {
		return err
	}
	c.cfg.Log.Info("rollouts: operator action", "class", class, "rollout", id, "action", action, "state", next.State, "reason", reason)
	return nil
}

// Retune starts a new tuning run of class for reason, as an operator asked. It
// implements dashboard.Actions; errors wrap profiles.ErrNotLeader, profiles.ErrNotFound
// and dashboard.ErrNotAllowed (tuning still running).
func (c *Controller) Retune(ctx context.Context, class, reason string) error {
	f, ok := c.fleet.LeaderFence()
	if !ok {
		return fmt.Errorf("retune %s: %w", class, profiles.ErrNotLeader)
	}
	if _, err := c.store.Classes.Get(ctx, class); err != nil {
		return fmt.Errorf("retune %s: %w", class, err)
	}
	if reason == "" {
		reason = "operator request"
	}
	err := tuner.Retune(ctx, c.etcd, f, class, reason, nil)
	if errors.Is(err, tuner.ErrRunning) {
		return fmt.Errorf("%w: %w", dashboard.ErrNotAllowed, err)
	}
	return err
}

var _ dashboard.Actions = (*Controller)(nil)
