package prune

import (
	"fmt"
	"math"
)

// ScheduleKind names how sparsity grows from zero to the target.
type ScheduleKind string

// Schedules.
const (
	// ScheduleOneShot prunes to the target at once, then fine-tunes.
	ScheduleOneShot ScheduleKind = "oneshot"
	// ScheduleIterative alternates pruning and retraining in stages (Han et al. 2015),
	// each stage removing the same fraction of the weights still present.
	ScheduleIterative ScheduleKind = "iterative"
	// ScheduleCubic raises sparsity during fine-tuning along Zhu & Gupta's (2017) cubic
	// curve: fast at first, while redundant weights abound, then slowly.
	ScheduleCubic ScheduleKind = "cubic"
)

// ParseSchedule validates a schedule name.
func ParseSchedule(s string) (ScheduleKind, error) {
	switch k := ScheduleKind(s); k {
	case ScheduleOneShot, ScheduleIterative, ScheduleCubic:
		return k, nil
	}
	return "", fmt.Errorf("prune: unknown schedule %q: want oneshot, iterative or cubic", s)
}

// CubicSparsity is Zhu & Gupta's gradual pruning schedule at step t:
// s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n·Δt))³, held at s_i before t0 and at s_f after
// t0 + n·Δt. It panics if n or dt is not positive.
func CubicSparsity(si, sf float64, t, t0, n, dt int) float64 {
	if n <= 0 || dt <= 0 {
		panic(fmt.Sprintf("prune: cubic schedule needs n > 0 and Δt > 0, got n=%d Δt=%d", n, dt))
	}
	if t <= t0 {
		return si
	}
	p := float64(t-t0) / float64(n*dt)
	if p >= 1 {
		return sf
	}
	return sf + (si-sf)*math.Pow(1-p, 3)
}

// Levels returns the sparsity after each of the stages of a schedule that ends at
// final: one level for one-shot; for iterative, stages that each keep the same share of
// the remaining weights; for cubic, the cubic curve sampled at the end of each stage.
func Levels(kind ScheduleKind, final float64, stages int) []float64 {
	if kind == ScheduleOneShot || stages <= 1 || final <= 0 {
		return []float64{final}
	}
	out := make([]float64, stages)
	for k := 1; k <= stages; k++ {
		switch kind {
		case ScheduleIterative:
			out[k-1] = 1 - math.Pow(1-final, float64(k)/float64(stages))
		default:
			out[k-1] = CubicSparsity(0, final, k, 0, stages, 1)
		}
	}
	out[stages-1] = final
	return out
}
