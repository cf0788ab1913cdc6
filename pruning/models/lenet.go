package models

import "github.com/fleetprune/fleetprune/pruning/graph"

// LeNet300100 is the fully connected LeNet-300-100: 784 → 300 → 100 → 10 with ReLU.
func LeNet300100(seed uint64) *graph.Graph {
	b := newBuilder("lenet-300-100", seed)
	x := b.flatten("flatten", InputName)
	x = b.relu("relu1", b.gemm("fc1", x, 784, 300))
	x = b.relu("relu2", b.gemm("fc2", x, 300, 100))
	return b.finish(b.gemm("fc3", x, 100, 10))
}

// LeNet5 is Caffe's LeNet-5: conv 20@5×5, max-pool 2, conv 50@5×5, max-pool 2,
// fc 500, ReLU, fc 10.
func LeNet5(seed uint64) *graph.Graph {
	b := newBuilder("lenet-5", seed)
	x := b.maxPool("pool1", b.conv("conv1", InputName, 1, 20, 5, 1, 0, true), 2)
	x = b.maxPool("pool2", b.conv("conv2", x, 20, 50, 5, 1, 0, true), 2)
	x = b.flatten("flatten", x)
	x = b.relu("relu1", b.gemm("fc1", x, 50*4*4, 500))
	return b.finish(b.gemm("fc2", x, 500, 10))
}
