// Package models builds the architectures fleetprune knows by name as graphs of
// standard ONNX operators with seeded He initialization.
package models

import (
	"fmt"
	"sort"
	"strings"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// Opset is the ONNX opset of the built graphs.
const Opset = 13

// InputName and OutputName are the value names of every built model.
const (
	InputName  = "input"
	OutputName = "logits"
)

var builders = map[string]func(seed uint64) *graph.Graph{
	"lenet-300-100": LeNet300100,
	"lenet-5":       LeNet5,
	"resnet-8":      ResNet8,
}

// Archs lists the architecture names Build accepts, sorted.
func Archs() []string {
	var names []string
	for k := range builders {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// Build returns a freshly initialized model for MNIST-shaped input ("input",
// [N, 1, 28, 28]) with 10 logits ("logits"). The same seed gives the same weights.
func Build(arch string, seed uint64) (*graph.Graph, error) {
	b, ok := builders[strings.ToLower(arch)]
	if !ok {
		return nil, fmt.Errorf("models: unknown architecture %q (want one of %s)", arch, strings.Join(Archs(), ", "))
	}
	return b(seed), nil
}
