package models

import (
	"fmt"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

// ResNet8 is a small residual CNN: a 3×3 conv-BN-ReLU stem with 16 channels, three
// stages of one basic block each (16, 32, 64 channels; stages 2 and 3 downsample with
// stride 2 and a 1×1 conv-BN projection shortcut), global average pooling and a
// fully connected layer to 10 logits. Eight weight layers in all, not counting the
// projections.
func ResNet8(seed uint64) *graph.Graph {
	b := newBuilder("resnet-8", seed)
	x := b.relu("stem.relu", b.bn("stem.bn", b.conv("stem.conv", InputName, 1, 16, 3, 1, 1, false), 16))
	in := 16
	for i, out := range []int{16, 32, 64} {
		stride := 1
		if i > 0 {
			stride = 2
		}
		x = b.basicBlock(fmt.Sprintf("layer%d", i+1), x, in, out, stride)
		in = out
	}
	x = b.node("gap", "GlobalAveragePool", []string{x}, nil)
	x = b.flatten("flatten", x)
	return b.finish(b.gemm("fc", x, 64, 10))
}

// basicBlock is conv3×3-BN-ReLU-conv3×3-BN plus a shortcut, then ReLU. The shortcut is
// the identity when shapes agree and a 1×1 conv-BN projection otherwise.
func (b *builder) basicBlock(name, x string, in, out, stride int) string {
	y := b.relu(name+".relu1", b.bn(name+".bn1", b.conv(name+".conv1", x, in, out, 3, stride, 1, false), out))
	y = b.bn(name+".bn2", b.conv(name+".conv2", y, out, out, 3, 1, 1, false), out)
	short := x
	if stride != 1 || in != out {
		short = b.bn(name+".down.bn", b.conv(name+".down.conv", x, in, out, 1, stride, 0, false), out)
	}
	sum := b.node(name+".add", "Add", []string{y, short}, nil)
	return b.relu(name+".relu2", sum)
}
