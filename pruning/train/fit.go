package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Fit trains g in place on trainSet with cfg and, when valSet is non-nil, evaluates it
// after every epoch. The graph must have one input (batch first) and its first output
// must be the logits (N, classes). With EarlyStopPatience set, Fit stops once the
// validation loss has not improved for that many epochs and restores the best weights.
// On a context error it returns the history so far with the error.
func Fit(ctx context.Context, g *graph.Graph, trainSet, valSet *data.Dataset, cfg Config) (*History, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if cfg.EarlyStopPatience > 0 && valSet == nil {
		return nil, errors.New("train: early stop needs a validation set")
	}
	in, out, err := ioNames(g)
	if err != nil {
		return nil, err
	}
	if err := checkDataset(g, trainSet, "training"); err != nil {
		return nil, err
	}
	if valSet != nil {
		if err := checkDataset(g, valSet, "validation"); err != nil {
			return nil, err
		}
	}
	ex, err := graph.Compile(g, graph.WithTraining(true), graph.WithThreads(cfg.Threads), graph.WithSeed(cfg.Seed))
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// Validation runs on an inference executor: it shares activation buffers and
	// keeps no gradients, and reads the same parameters in place.
	var evalEx *graph.Executor
	if valSet != nil {
		if evalEx, err = graph.Compile(g, graph.WithThreads(cfg.Threads)); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
	}
	var teacher *graph.Executor
	var tIn, tOut string
	if cfg.Teacher != nil {
		if teacher, tIn, tOut, err = teacherFor(cfg, g); err != nil {
			return nil, err
		}
	}
	tInputs := map[string]*tensor.Tensor{}
	opt := newOptimizer(cfg, g, ex.Grads())
	n := trainSet.Len()
	stepsPerEpoch := (n + cfg.BatchSize - 1) / cfg.BatchSize
	totalSteps := stepsPerEpoch * cfg.Epochs
	if cfg.MaxSteps > 0 {
		totalSteps = min(totalSteps, cfg.MaxSteps)
	}
	per := tensor.Size(trainSet.X.Shape[1:])
	full := tensor.New(append([]int{cfg.BatchSize}, trainSet.X.Shape[1:]...)...)
	labels := make([]int, cfg.BatchSize)
	inputs := map[string]*tensor.Tensor{}
	gradOut := map[string]*tensor.Tensor{}

	h := &History{}
	bestLoss := float32(math.Inf(1))
	var best map[string]*tensor.Tensor
	sinceBest := 0
	start := time.Now()
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		t0 := time.Now()
		perm := data.Permutation(n, cfg.Seed+uint64(epoch)*0x9e3779b9)
		var lossSum float64
		correct, seen := 0, 0
		lr := cfg.rateAt(epoch, 0, stepsPerEpoch, totalSteps)
		for s := 0; s < stepsPerEpoch; s++ {
			if h.Steps >= totalSteps {
				h.Stopped = cfg.MaxSteps > 0
				break
			}
			if err := ctx.Err(); err != nil {
				return h, fmt.Errorf("train: epoch %d: %w", epoch+1, err)
			}
			lo, hi := s*cfg.BatchSize, min((s+1)*cfg.BatchSize, n)
			b := hi - lo
			x := full
			if b != cfg.BatchSize {
				x = tensor.New(append([]int{b}, trainSet.X.Shape[1:]...)...)
			}
			for i, j := range perm[lo:hi] {
				copy(x.Data[i*per:(i+1)*per], trainSet.X.Data[j*per:(j+1)*per])
				labels[i] = trainSet.Labels[j]
			}
			inputs[in] = x
			outs, err := ex.Forward(ctx, inputs)
			if err != nil {
				return h, fmt.Errorf("train: epoch %d step %d: %w", epoch+1, s+1, err)
			}
			logits := outs[out]
			loss, grad := graph.SoftmaxCrossEntropy(logits, labels[:b])
			if teacher != nil {
				tInputs[tIn] = x
				touts, err := teacher.Run(ctx, tInputs)
				if err != nil {
					return h, fmt.Errorf("train: epoch %d step %d: teacher: %w", epoch+1, s+1, err)
				}
				soft, sgrad := distillLoss(logits, touts[tOut], cfg.Temperature)
				loss = (1-cfg.DistillWeight)*loss + cfg.DistillWeight*soft
				mixGrad(grad, sgrad, cfg.DistillWeight)
			}
			if math.IsNaN(float64(loss)) || math.IsInf(float64(loss), 0) {
				return h, fmt.Errorf("train: epoch %d step %d: loss is %v; lower the learning rate", epoch+1, s+1, loss)
			}
			correct += countCorrect(logits, labels[:b])
			gradOut[out] = grad
			if err := ex.Backward(ctx, gradOut); err != nil {
				return h, fmt.Errorf("train: epoch %d step %d: %w", epoch+1, s+1, err)
			}
			lr = cfg.rateAt(epoch, s, stepsPerEpoch, totalSteps)
			opt.step(g, ex.Grads(), lr)
			if cfg.AfterStep != nil {
				cfg.AfterStep()
			}
			h.Steps++
			seen += b
			lossSum += float64(loss) * float64(b)
			if cfg.Progress != nil {
				el := time.Since(t0)
				rate := float64(seen) / max(el.Seconds(), 1e-9)
				total := time.Since(start)
				eta := time.Duration(float64(total) / float64(h.Steps) * float64(totalSteps-h.Steps))
				cfg.Progress(Progress{
					Epoch: epoch + 1, Epochs: cfg.Epochs, Step: s + 1, Steps: stepsPerEpoch,
					SamplesPerSec: rate, Loss: float32(lossSum / float64(seen)), ETA: eta, LR: lr,
					GlobalStep: h.Steps, EpochFraction: float64(s+1) / float64(stepsPerEpoch),
					ElapsedInEpoch: el, SamplesInEpoch: seen, SamplesPerEpoch: n,
				})
			}
		}
		if seen == 0 {
			break
		}
		st := EpochStats{
			Epoch: epoch + 1, TrainLoss: float32(lossSum / float64(seen)), TrainAcc: float64(correct) / float64(seen),
			LR: lr, Duration: time.Since(t0),
		}
		st.SamplesPerSec = float64(seen) / max(st.Duration.Seconds(), 1e-9)
		if valSet != nil {
			acc, vloss, _, err := evaluate(ctx, evalEx, in, out, valSet, DefaultEvalBatch)
			if err != nil {
				return h, err
			}
			st.ValAcc, st.ValLoss = acc, vloss
			if vloss < bestLoss {
				bestLoss, sinceBest, h.BestEpoch = vloss, 0, epoch+1
				if cfg.EarlyStopPatience > 0 {
					best = snapshot(g, ex.Grads())
				}
			} else {
				sinceBest++
			}
		}
		h.Epochs = append(h.Epochs, st)
		if cfg.Checkpoint != nil {
			if err := cfg.Checkpoint(g, epoch+1); err != nil {
				return h, fmt.Errorf("train: checkpoint after epoch %d: %w", epoch+1, err)
			}
		}
		if cfg.EarlyStopPatience > 0 && sinceBest >= cfg.EarlyStopPatience {
			h.Stopped = true
			break
		}
		if h.Steps >= totalSteps {
			break
		}
	}
	for name, t := range best {
		copy(g.Params[name].Data, t.Data)
	}
	return h, nil
}

// snapshot copies the trainable parameters and every other parameter that training
// changes (BatchNormalization statistics).
func snapshot(g *graph.Graph, _ map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	s := make(map[string]*tensor.Tensor, len(g.Params))
	for name, t := range g.Params {
		s[name] = t.Clone()
	}
	return s
}

// ioNames returns the single data input and the logits output of g.
func ioNames(g *graph.Graph) (in, out string, err error) {
	if g == nil {
		return "", "", errors.New("train: nil graph")
	}
	var ins []string
	for _, v := range g.Inputs {
		if _, ok := g.Params[v.Name]; !ok {
			ins = append(ins, v.Name)
		}
	}
	if len(ins) != 1 {
		return "", "", fmt.Errorf("train: graph %q has %d data inputs, want 1", g.Name, len(ins))
	}
	if len(g.Outputs) == 0 {
		return "", "", fmt.Errorf("train: graph %q has no outputs", g.Name)
	}
	return ins[0], g.Outputs[0].Name, nil
}

// checkDataset validates a dataset against the graph before any work starts.
func checkDataset(g *graph.Graph, d *data.Dataset, role string) error {
	if d == nil || d.X == nil {
		return fmt.Errorf("train: %s set is missing", role)
	}
	if d.Len() == 0 {
		return fmt.Errorf("train: %s set %q is empty", role, d.Name)
	}
	if d.X.Rank() < 1 || d.X.Shape[0] != d.Len() || d.X.Len() != tensor.Size(d.X.Shape) {
		return fmt.Errorf("train: %s set %q: samples %v do not match %d labels", role, d.Name, d.X.Shape, d.Len())
	}
	shapes, err := graph.InferShapes(g, 1)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	classes := 0
	if s := shapes[g.Outputs[0].Name]; len(s) == 2 {
		classes = s[1]
	} else {
		return fmt.Errorf("train: graph %q output %q has shape %v, want (N, classes)", g.Name, g.Outputs[0].Name, s)
	}
	for i, y := range d.Labels {
		if y < 0 || y >= classes {
			return fmt.Errorf("train: %s set %q: label %d of sample %d outside the model's %d classes", role, d.Name, y, i, classes)
		}
	}
	return nil
}

func countCorrect(logits *tensor.Tensor, labels []int) int {
	c := logits.Shape[1]
	n := 0
	for i, y := range labels {
		if argmax(logits.Data[i*c:(i+1)*c]) == y {
			n++
		}
	}
	return n
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
