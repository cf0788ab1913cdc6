package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/fleetprune/fleetprune/profiles"
)

// LeaderPrefix is the etcd election prefix of the coordinators.
const LeaderPrefix = profiles.LeaderPrefix

// campaignOnce opens a session with the leadership TTL and blocks until this
// coordinator is elected, ctx ends, or the session dies. On success the caller owns
// the session and must close it.
func (c *Coordinator) campaignOnce(ctx context.Context) (*concurrency.Session, *concurrency.Election, error) {
	ttl := int(c.cfg.LeaseTTL / time.Second)
	sess, err := concurrency.NewSession(c.etcd, concurrency.WithTTL(ttl), concurrency.WithContext(ctx))
	if err != nil {
		return nil, nil, fmt.Errorf("election: session: %w", err)
	}
	// Campaign must also stop when the session dies while it waits, or a coordinator
	// cut off from etcd could believe it won with a lease that no longer exists.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	el := concurrency.NewElection(sess, LeaderPrefix)
	if err := el.Campaign(cctx, c.cfg.Name); err != nil {
		sess.Close()
		return nil, nil, fmt.Errorf("election: campaign: %w", err)
	}
	return sess, el, nil
}

// runElection campaigns, leads while elected, and campaigns again when leadership is
// lost, until ctx ends. lead runs with a context that ends the moment the session
// ends.
func (c *Coordinator) runElection(ctx context.Context, lead func(ctx context.Context, f profiles.Fence) error) error {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		sess, el, err := c.campaignOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("campaign failed; retrying", "err", err, "in", backoff)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, c.cfg.LeaseTTL)
			continue
		}
		backoff = 200 * time.Millisecond
		f := profiles.ElectionFence(el)
		c.log.Info("elected leader", "fence", f.String())
		lctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-sess.Done():
				c.log.Warn("leadership session ended; stepping down", "fence", f.String())
				cancel()
			case <-lctx.Done():
			}
		}()
		c.setLeader(f, true)
		err = lead(lctx, f)
		c.setLeader(f, false)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("leading stopped", "err", err)
		}
		// Resign so a standby takes over at once instead of after the TTL.
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if rerr := el.Resign(rctx); rerr != nil && ctx.Err() == nil {
			c.log.Warn("resign", "err", rerr)
		}
		rcancel()
		sess.Close()
		if err != nil && ctx.Err() == nil {
			sleepCtx(ctx, backoff)
		}
	}
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}
