package main

import (
	"slices"
	"time"
)

// sample is the per-run durations of one engine on one measurement cell, pooled over
// the interleaved rounds.
type sample []time.Duration

// quantile returns the q-quantile (nearest rank) of the sample, 0 when empty.
func (s sample) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	i := int(q*float64(len(c)-1) + 0.5)
	return c[min(max(i, 0), len(c)-1)]
}

func (s sample) median() time.Duration { return s.quantile(0.5) }
func (s sample) p95() time.Duration    { return s.quantile(0.95) }

// fromNanos converts a peer's reply into a sample.
func fromNanos(ns []int64) sample {
	s := make(sample, len(ns))
	for i, v := range ns {
		s[i] = time.Duration(v)
	}
	return s
}
