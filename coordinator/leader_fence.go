package coordinator

import "github.com/fleetprune/fleetprune/profiles"

// LeaderFence returns the fence of this coordinator's current term of leadership and
// whether it leads. Reconcilers that run beside the coordinator (tuning, rollouts)
// guard every write with it, so a deposed leader's write is refused by etcd.
func (c *Coordinator) LeaderFence() (profiles.Fence, bool) { return c.currentTerm() }
