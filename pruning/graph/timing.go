package graph

import "time"

// NodeTiming is the accumulated forward time of one node in timing mode.
type NodeTiming struct {
	Node  string
	Op    string
	Total time.Duration
	Calls int
}

// Timings returns a copy of the per-node timings accumulated by Run since Compile or
// the last ResetTimings, in graph order. It is all zeros unless compiled
// WithTiming(true).
func (e *Executor) Timings() []NodeTiming {
	return append([]NodeTiming(nil), e.timings...)
}

// ResetTimings zeroes the accumulated timings.
func (e *Executor) ResetTimings() {
	for i := range e.timings {
		e.timings[i].Total, e.timings[i].Calls = 0, 0
	}
}
