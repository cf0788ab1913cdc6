package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// reportLease hands out the lease applied reports are put under, so they leave etcd
// after ReportRetention. One lease serves every report of a quarter of the retention
// (reports live between 3/4 and all of it), so the leader grants a few leases a day,
// not one per report.
type reportLease struct {
	mu      sync.Mutex
	id      clientv3.LeaseID
	granted time.Time
}

func (c *Coordinator) reportLeaseID(ctx context.Context) (clientv3.LeaseID, error) {
	rl := &c.reportLease
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.id != 0 && time.Since(rl.granted) < c.cfg.ReportRetention/4 {
		return rl.id, nil
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	g, err := c.etcd.Grant(ctx, int64(c.cfg.ReportRetention/time.Second))
	if err != nil {
		return 0, fmt.Errorf("report lease: %w", err)
	}
	rl.id, rl.granted = g.ID, time.Now()
	return rl.id, nil
}

// forgetReportLease drops the current lease, after a write found it gone.
func (c *Coordinator) forgetReportLease() {
	c.reportLease.mu.Lock()
	c.reportLease.id = 0
	c.reportLease.mu.Unlock()
}

// compactHistory compacts etcd's history every CompactEvery to the revision seen one
// period earlier, until ctx ends; etcd keeps every old revision otherwise, and the
// embedded etcd of `fleetprune up` has no auto-compaction of its own.
func (c *Coordinator) compactHistory(ctx context.Context) error {
	if c.cfg.CompactEvery <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	tick := time.NewTicker(c.cfg.CompactEvery)
	defer tick.Stop()
	var prev int64
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		cctx, cancel := c.callCtx(ctx)
		resp, err := c.etcd.Get(cctx, LeaderPrefix, clientv3.WithCountOnly())
		if err == nil && prev > 0 {
			_, err = c.etcd.Compact(cctx, prev)
			if errors.Is(err, rpctypes.ErrCompacted) {
				err = nil
			}
			if err == nil {
				c.log.Info("etcd history compacted", "revision", prev)
			}
		}
		cancel()
		if err != nil {
			c.log.Warn("etcd compaction", "err", err)
			continue
		}
		prev = resp.Header.Revision
	}
}
