// Package pruning is the model engine and pruning core of fleetprune: a pure-Go
// neural-network graph with forward and backward passes, training, datasets, ONNX in
// and out, and the pruners built on them. It knows nothing of etcd, NATS or devices.
//
// Sub-packages:
//
//	tensor  dense float32 tensors
//	graph   the model IR: nodes, attributes, values, parameters
package pruning
