package kernels

import "fmt"

// gemmShape is one GEMM the engine runs for the built-in models; benchmarks and
// tests share the list.
type gemmShape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

func (s gemmShape) String() string {
	ta, tb := "N", "N"
	if s.transA {
		ta = "T"
	}
	if s.transB {
		tb = "T"
	}
	return fmt.Sprintf("%s/%s%s_%dx%dx%d", s.name, ta, tb, s.m, s.n, s.k)
}

// modelShapes are the GEMMs of lenet-300-100, lenet-5 (im2col, per image) and
// resnet-8 (im2col, per image) at batch 1 and 64, forward and backward.
var modelShapes = []gemmShape{
	{"fc1-b1", false, true, 1, 300, 784},
	{"fc2-b1", false, true, 1, 100, 300},
	{"fc1-b64", false, true, 64, 300, 784},
	{"fc2-b64", false, true, 64, 100, 300},
	{"fc3-b64", false, true, 64, 10, 100},
	{"fc1-dW", true, false, 300, 784, 64},
	{"fc1-dX", false, false, 64, 784, 300},
	{"l5fc1-b64", false, true, 64, 500, 800},
	{"l5conv1", false, false, 20, 576, 25},
	{"l5conv2", false, false, 50, 64, 500},
	{"l5conv2-dW", false, true, 50, 500, 64},
	{"l5conv2-dcol", true, false, 500, 64, 50},
	{"r8conv16", false, false, 16, 784, 144},
	{"r8conv32", false, false, 32, 196, 288},
	{"r8conv64", false, false, 64, 49, 576},
	{"square256", false, false, 256, 256, 256},
}
