package graph

import (
	"fmt"
	"math"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// SoftmaxCrossEntropy returns the mean cross-entropy of softmax(logits) against labels
// and its gradient with respect to logits (already divided by the batch size). logits
// has shape (N, C). It panics with a *tensor.ShapeError when logits is not 2-D or
// len(labels) != N, and when a label is outside [0, C).
func SoftmaxCrossEntropy(logits *tensor.Tensor, labels []int) (loss float32, grad *tensor.Tensor) {
	if logits.Rank() != 2 || logits.Shape[0] != len(labels) {
		panic(&tensor.ShapeError{Op: "SoftmaxCrossEntropy", Want: fmt.Sprintf("(%d, C)", len(labels)), Got: logits.Shape})
	}
	n, c := logits.Shape[0], logits.Shape[1]
	grad = tensor.New(n, c)
	var total float64
	inv := 1 / float32(n)
	for i := 0; i < n; i++ {
		y := labels[i]
		if y < 0 || y >= c {
			panic(&tensor.ShapeError{Op: "SoftmaxCrossEntropy", Want: fmt.Sprintf("labels in [0, %d), got %d", c, y), Got: logits.Shape})
		}
		row := logits.Data[i*c : (i+1)*c]
		g := grad.Data[i*c : (i+1)*c]
		m := row[0]
		for _, v := range row {
			m = max(m, v)
		}
		var sum float64
		for j, v := range row {
			ex := math.Exp(float64(v - m))
			g[j] = float32(ex)
			sum += ex
		}
		total += math.Log(sum) - float64(row[y]-m)
		for j := range g {
			g[j] = g[j] / float32(sum) * inv
		}
		g[y] -= inv
	}
	return float32(total / float64(n)), grad
}
