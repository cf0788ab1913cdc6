package rollout

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// Default polling delays of a rollout that waits.
const (
	// WaitingPoll is how soon to look again at a rollout that waits for devices or
	// reports.
	WaitingPoll = 5 * time.Second
)

// ObserveFunc gathers the observed state of r's class for a step.
type ObserveFunc func(ctx context.Context, r Rollout) (Observations, error)

// ExecuteFunc carries out one action of r. It must be idempotent by Action.ID: after
// a failover the same action may come again.
type ExecuteFunc func(ctx context.Context, r Rollout, a Action) error

// Step runs one reconcile of the rollout class/id following Next's contract: it
// reads the rollout, observes, takes one step, stores it (fenced, compare-and-swap),
// carries out the actions, and stores Executed. It returns the rollout as stored
// last. An error leaves the rollout in a state from which the next Step resumes:
// actions not confirmed are repeated with the same IDs. Errors wrap
// profiles.ErrNotLeader, profiles.ErrConflict (another writer; retry) and
// profiles.ErrNotFound.
func (s *Store) Step(ctx context.Context, f profiles.Fence, class, id string, observe ObserveFunc, execute ExecuteFunc, now func() time.Time) (Rollout, error) {
	if now == nil {
		now = time.Now
	}
	r, rev, err := s.Get(ctx, class, id)
	if err != nil {
		return Rollout{}, err
	}
	var obs Observations
	if len(r.Pending) == 0 && !r.State.Final() && r.State != StatePaused {
		if obs, err = observe(ctx, r); err != nil {
			return r, fmt.Errorf("%s: observe: %w", r.scope(), err)
		}
	}
	next, acts := Next(r, obs, now())
	if !reflect.DeepEqual(next, r) {
		if rev, err = s.Put(ctx, f, next, rev); err != nil {
			return r, err
		}
	} else if len(acts) > 0 {
		// Repeated actions: make sure this coordinator still leads before sending.
		if err := f.Check(ctx, s.kv); err != nil {
			return r, fmt.Errorf("%s: %w", r.scope(), err)
		}
	}
	if len(acts) == 0 {
		return next, nil
	}
	for _, a := range acts {
		if err := execute(ctx, next, a); err != nil {
			return next, fmt.Errorf("%s: action %s (%s): %w", next.scope(), a.ID, a.Kind, err)
		}
	}
	done := Executed(next, now())
	if _, err := s.Put(ctx, f, done, rev); err != nil {
		return next, err
	}
	return done, nil
}

// RequeueAfter says when r next needs a step: 0 when it is final or paused (only an
// operator or an event moves it), the rest of the bake time while baking, at once
// when promoting or with actions pending, WaitingPoll otherwise.
func (r Rollout) RequeueAfter(now time.Time) time.Duration {
	switch {
	case len(r.Pending) > 0 || r.State == StatePromoting:
		return time.Millisecond
	case r.State.Final() || r.State == StatePaused:
		return 0
	case r.State == StateBaking && !r.StageStartedAt.IsZero():
		if left := r.StageStartedAt.Add(r.Plan.BakeTime.D()).Sub(now); left > WaitingPoll {
			return left
		}
	}
	return WaitingPoll
}
