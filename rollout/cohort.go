package rollout

import (
	"crypto/sha256"
	"math"
	"slices"
)

// StageTarget returns how many devices the stage covering pct percent of n devices
// holds in total, given that prev are covered already: the rounded-up share, at least
// one more than prev, never more than n; the last stage (pct 100) takes all n.
func StageTarget(pct float64, n, prev int) int {
	t := int(math.Ceil(pct * float64(n) / 100))
	if t < prev+1 {
		t = prev + 1
	}
	if t > n {
		t = n
	}
	return t
}

// SelectCohort picks k devices of candidates for a stage of rollout id. The order is
// a hash of the rollout and device IDs (ties broken by ID), so every coordinator
// picks the same cohort from the same candidates, and successive rollouts canary on
// different devices.
func SelectCohort(id string, candidates []string, k int) []string {
	type ranked struct {
		id   string
		rank [sha256.Size]byte
	}
	rs := make([]ranked, 0, len(candidates))
	seen := map[string]bool{}
	for _, c := range candidates {
		if seen[c] {
			continue
		}
		seen[c] = true
		rs = append(rs, ranked{id: c, rank: sha256.Sum256([]byte(id + "/" + c))})
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		if c := slices.Compare(a.rank[:], b.rank[:]); c != 0 {
			return c
		}
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	if k > len(rs) {
		k = len(rs)
	}
	if k < 0 {
		k = 0
	}
	out := make([]string, k)
	for i := range out {
		out[i] = rs[i].id
	}
	slices.Sort(out)
	return out
}
