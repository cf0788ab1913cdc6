package train

import "math"

// rateAt returns the learning rate for a step, given steps per epoch and total steps.
func (c Config) rateAt(epoch, step, stepsPerEpoch, totalSteps int) float32 {
	switch c.Schedule {
	case Step:
		return c.LR * float32(math.Pow(float64(c.Gamma), float64(epoch/c.StepEpochs)))
	case Cosine:
		t := float64(epoch*stepsPerEpoch+step) / float64(max(totalSteps, 1))
		return c.MinLR + (c.LR-c.MinLR)*float32(0.5*(1+math.Cos(math.Pi*min(t, 1))))
	default:
		return c.LR
	}
}
