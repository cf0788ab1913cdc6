package train_test

import (
	"context"
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// Train LeNet-300-100 on part of MNIST for one epoch and evaluate it.
func ExampleFit() {
	trainSet, err := data.Load("mnist", "train")
	if err != nil {
		panic(err)
	}
	testSet, err := data.Load("mnist", "test")
	if err != nil {
		panic(err)
	}
	idx := make([]int, 2000)
	for i := range idx {
		idx[i] = i
	}
	g, _ := models.Build("lenet-300-100", 1)
	h, err := train.Fit(context.Background(), g, trainSet.Subset("mnist-2k", idx), nil, train.Config{
		Epochs: 1, BatchSize: 32, Optimizer: train.SGD, LR: 0.02, Momentum: 0.9, Schedule: train.Cosine, Seed: 1,
	})
	if err != nil {
		panic(err)
	}
	acc, _, _, err := train.Evaluate(context.Background(), g, testSet.Subset("mnist-test-2k", idx))
	if err != nil {
		panic(err)
	}
	fmt.Println("steps:", h.Steps, "accuracy above 70%:", acc > 0.7)
	// Output: steps: 63 accuracy above 70%: true
}
