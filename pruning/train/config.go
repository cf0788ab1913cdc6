package train

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// OptimizerKind selects the update rule.
type OptimizerKind string

// Optimizers.
const (
	SGD  OptimizerKind = "sgd"
	Adam OptimizerKind = "adam"
)

// ScheduleKind selects how the learning rate changes over epochs.
type ScheduleKind string

// Learning-rate schedules.
const (
	Constant ScheduleKind = "constant"
	// Step multiplies the rate by Gamma every StepEpochs epochs.
	Step ScheduleKind = "step"
	// Cosine anneals the rate from LR to MinLR over all steps.
	Cosine ScheduleKind = "cosine"
)

// Defaults applied by Config.withDefaults.
const (
	DefaultBatchSize = 64
	DefaultLR        = 0.01
	DefaultMomentum  = 0.9
	DefaultBeta1     = 0.9
	DefaultBeta2     = 0.999
	DefaultEps       = 1e-8
	DefaultEvalBatch = 256
)

// Config says how Fit trains. Zero values take the defaults above: SGD, constant
// rate, batch 64.
type Config struct {
	Epochs    int
	BatchSize int
	// MaxSteps stops training after this many optimizer steps in total (0: no limit).
	MaxSteps int

	Optimizer   OptimizerKind
	LR          float32
	Momentum    float32 // SGD momentum; 0 takes DefaultMomentum, negative means none
	WeightDecay float32 // L2 penalty added to the gradient (SGD) or decoupled (Adam)
	Beta1       float32 // Adam
	Beta2       float32 // Adam
	Eps         float32 // Adam

	Schedule   ScheduleKind
	StepEpochs int     // Step: epochs between decays
	Gamma      float32 // Step: decay factor
	MinLR      float32 // Cosine: final rate

	// Teacher, when set, distills a trained model into the one being trained
	// (Hinton et al. 2015): the loss is (1−w)·cross-entropy with the labels +
	// w·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) on every batch, w the
	// DistillWeight and T the Temperature. The teacher runs in inference mode, is never
	// changed, and must take the same input and give as many classes. Pruning uses the
	// dense model as teacher of its pruned copy.
	Teacher *graph.Graph
	// DistillWeight is w in [0, 1]; 0 means DefaultDistillWeight.
	DistillWeight float32
	// Temperature softens both distributions; 0 means DefaultTemperature.
	Temperature float32

	// Seed fixes the shuffling and Dropout; the same seed and data give the same
	// weights for any thread count.
	Seed    uint64
	Threads int // executor threads; 0 means GOMAXPROCS

	// EarlyStopPatience stops after this many epochs without a better validation loss
	// and restores the best weights (0: never stop early). Needs a validation set.
	EarlyStopPatience int

	// Progress, when set, is called after every step.
	Progress func(Progress)
	// AfterStep, when set, runs after every optimizer step (pruning re-applies masks).
	AfterStep func()
	// Checkpoint, when set, is called after every epoch with the graph being trained.
	// An error stops training and is returned.
	Checkpoint func(g *graph.Graph, epoch int) error
}

// Progress is a snapshot of training for progress bars.
type Progress struct {
	Epoch, Epochs   int
	Step, Steps     int // step within the epoch and steps per epoch
	SamplesPerSec   float64
	Loss            float32 // running mean of the epoch's batch losses
	ETA             time.Duration
	LR              float32
	GlobalStep      int
	EpochFraction   float64
	ElapsedInEpoch  time.Duration
	SamplesInEpoch  int
	SamplesPerEpoch int
}

// EpochStats summarizes one epoch.
type EpochStats struct {
	Epoch         int
	TrainLoss     float32
	TrainAcc      float64
	ValLoss       float32 // 0 without a validation set
	ValAcc        float64
	LR            float32
	Duration      time.Duration
	SamplesPerSec float64
}

// History is what Fit did.
type History struct {
	Epochs    []EpochStats
	BestEpoch int  // epoch with the lowest validation loss (1-based), 0 without validation
	Stopped   bool // stopped early or by MaxSteps
	Steps     int
}

func (c Config) withDefaults() (Config, error) {
	if c.Epochs < 0 || c.BatchSize < 0 || c.MaxSteps < 0 || c.EarlyStopPatience < 0 || c.StepEpochs < 0 || c.Threads < 0 {
		return c, errors.New("train: config: negative count")
	}
	if c.Epochs == 0 {
		c.Epochs = 1
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.Optimizer == "" {
		c.Optimizer = SGD
	}
	if c.LR == 0 {
		c.LR = DefaultLR
	}
	if c.LR < 0 || c.WeightDecay < 0 || c.MinLR < 0 {
		return c, fmt.Errorf("train: config: negative rate (lr %v, weight decay %v, min lr %v)", c.LR, c.WeightDecay, c.MinLR)
	}
	if c.Teacher != nil {
		if c.DistillWeight == 0 {
			c.DistillWeight = DefaultDistillWeight
		}
		if c.Temperature == 0 {
			c.Temperature = DefaultTemperature
		}
		if !(c.DistillWeight > 0 && c.DistillWeight <= 1) || !(c.Temperature > 0) || math.IsInf(float64(c.Temperature), 0) {
			return c, fmt.Errorf("train: config: distillation weight %v not in (0, 1] or temperature %v not positive", c.DistillWeight, c.Temperature)
		}
	}
	switch c.Optimizer {
	case SGD:
		if c.Momentum == 0 {
			c.Momentum = DefaultMomentum
		}
		if c.Momentum < 0 {
			c.Momentum = 0
		}
		if c.Momentum >= 1 {
			return c, fmt.Errorf("train: config: momentum %v not in [0, 1)", c.Momentum)
		}
	case Adam:
		if c.Beta1 == 0 {
			c.Beta1 = DefaultBeta1
		}
		if c.Beta2 == 0 {
			c.Beta2 = DefaultBeta2
		}
		if c.Eps == 0 {
			c.Eps = DefaultEps
		}
		if c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 {
			return c, fmt.Errorf("train: config: Adam betas (%v, %v) not in [0, 1)", c.Beta1, c.Beta2)
		}
	default:
		return c, fmt.Errorf("train: config: unknown optimizer %q (want %q or %q)", c.Optimizer, SGD, Adam)
	}
	switch c.Schedule {
	case "":
		c.Schedule = Constant
	case Constant, Cosine:
	case Step:
		if c.StepEpochs == 0 {
			c.StepEpochs = max(1, c.Epochs/3)
		}
		if c.Gamma == 0 {
			c.Gamma = 0.1
		}
		if c.Gamma < 0 || c.Gamma > 1 {
			return c, fmt.Errorf("train: config: step gamma %v not in (0, 1]", c.Gamma)
		}
	default:
		return c, fmt.Errorf("train: config: unknown schedule %q (want constant, step or cosine)", c.Schedule)
	}
	return c, nil
}
