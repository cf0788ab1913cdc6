package train

import (
	"context"
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Evaluate runs g in inference mode over set and returns the accuracy, the mean
// cross-entropy loss and the confusion matrix (rows: true label, columns: predicted).
func Evaluate(ctx context.Context, g *graph.Graph, set *data.Dataset) (acc float64, loss float32, confusion [][]int, err error) {
	in, out, err := ioNames(g)
	if err != nil {
		return 0, 0, nil, err
	}
	if err := checkDataset(g, set, "evaluation"); err != nil {
		return 0, 0, nil, err
	}
	ex, err := graph.Compile(g)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("train: evaluate: %w", err)
	}
	return evaluate(ctx, ex, in, out, set, DefaultEvalBatch)
}

// EvaluateExecutor is Evaluate on an already compiled executor, in batches of
// batchSize (0 means DefaultEvalBatch).
func EvaluateExecutor(ctx context.Context, ex *graph.Executor, set *data.Dataset, batchSize int) (acc float64, loss float32, confusion [][]int, err error) {
	g := ex.Graph()
	in, out, err := ioNames(g)
	if err != nil {
		return 0, 0, nil, err
	}
	if err := checkDataset(g, set, "evaluation"); err != nil {
		return 0, 0, nil, err
	}
	if batchSize <= 0 {
		batchSize = DefaultEvalBatch
	}
	return evaluate(ctx, ex, in, out, set, batchSize)
}

func evaluate(ctx context.Context, ex *graph.Executor, in, out string, set *data.Dataset, batchSize int) (float64, float32, [][]int, error) {
	n := set.Len()
	per := tensor.Size(set.X.Shape[1:])
	var confusion [][]int
	var lossSum float64
	correct := 0
	inputs := map[string]*tensor.Tensor{}
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		x := tensor.FromData(set.X.Data[lo*per:hi*per], append([]int{hi - lo}, set.X.Shape[1:]...)...)
		inputs[in] = x
		outs, err := ex.Run(ctx, inputs)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("train: evaluate %s: %w", set.Name, err)
		}
		logits := outs[out]
		c := logits.Shape[1]
		if confusion == nil {
			confusion = make([][]int, c)
			for i := range confusion {
				confusion[i] = make([]int, c)
			}
		}
		labels := set.Labels[lo:hi]
		l, _ := graph.SoftmaxCrossEntropy(logits, labels)
		lossSum += float64(l) * float64(hi-lo)
		for i, y := range labels {
			p := argmax(logits.Data[i*c : (i+1)*c])
			confusion[y][p]++
			if p == y {
				correct++
			}
		}
	}
	return float64(correct) / float64(n), float32(lossSum / float64(n)), confusion, nil
}
