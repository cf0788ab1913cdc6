package prune

import (
	"math/rand/v2"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// netBuilder builds small graphs by hand for the tests, with seeded random weights.
type netBuilder struct {
	g   *graph.Graph
	rng *rand.Rand
	n   int
}

func newNet(name string, input ...int) *netBuilder {
	g := graph.New(name, 13)
	g.Inputs = []graph.Value{{Name: "x", Shape: append([]int{graph.DynamicDim}, input...)}}
	return &netBuilder{g: g, rng: rand.New(rand.NewPCG(7, 9))}
}

func (b *netBuilder) param(name string, shape ...int) string {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(b.rng.NormFloat64() * 0.3)
	}
	b.g.Params[name] = t
	return name
}

func (b *netBuilder) node(name, op string, attrs map[string]graph.Attr, inputs ...string) string {
	out := name + "_out"
	b.g.Nodes = append(b.g.Nodes, &graph.Node{Name: name, Op: op, Inputs: inputs, Outputs: []string{out}, Attrs: attrs})
	return out
}

func (b *netBuilder) gemm(name, x string, in, out int) string {
	return b.node(name, "Gemm", map[string]graph.Attr{"transB": graph.IntAttr(1)}, x,
		b.param(name+".weight", out, in), b.param(name+".bias", out))
}

func (b *netBuilder) conv(name, x string, in, out, k, pad, group int) string {
	return b.node(name, "Conv", map[string]graph.Attr{
		"kernel_shape": graph.IntsAttr(int64(k), int64(k)),
		"pads":         graph.IntsAttr(int64(pad), int64(pad), int64(pad), int64(pad)),
		"group":        graph.IntAttr(int64(group)),
	}, x, b.param(name+".weight", out, in/group, k, k), b.param(name+".bias", out))
}

func (b *netBuilder) bn(name, x string, c int) string {
	scale := b.param(name+".weight", c)
	for i := range b.g.Params[scale].Data {
		b.g.Params[scale].Data[i] += 1
	}
	v := b.param(name+".running_var", c)
	for i := range b.g.Params[v].Data {
		b.g.Params[v].Data[i] = 1 + b.g.Params[v].Data[i]*b.g.Params[v].Data[i]
	}
	return b.node(name, "BatchNormalization", map[string]graph.Attr{"epsilon": graph.FloatAttr(1e-5)},
		x, scale, b.param(name+".bias", c), b.param(name+".running_mean", c), v)
}

func (b *netBuilder) relu(x string) string {
	b.n++
	return b.node("relu"+itoa(b.n), "Relu", nil, x)
}

func (b *netBuilder) pool(x string) string {
	b.n++
	return b.node("pool"+itoa(b.n), "MaxPool", map[string]graph.Attr{
		"kernel_shape": graph.IntsAttr(2, 2), "strides": graph.IntsAttr(2, 2)}, x)
}

func (b *netBuilder) done(out string, classes int) *graph.Graph {
	b.g.Outputs = []graph.Value{{Name: out, Shape: []int{graph.DynamicDim, classes}}}
	return b.g
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// mlp is LeNet-300-100 in miniature: 784-300-100-10 by default.
func mlp(tb testing.TB, h1, h2 int) *graph.Graph {
	tb.Helper()
	b := newNet("mlp", 784)
	x := b.relu(b.gemm("fc1", "x", 784, h1))
	x = b.relu(b.gemm("fc2", x, h1, h2))
	return b.done(b.gemm("fc3", x, h2, 10), 10)
}

// lenet5 is the Caffe LeNet-5; flattenOp is "Flatten" or "Reshape".
func lenet5(tb testing.TB, flattenOp string) *graph.Graph {
	tb.Helper()
	b := newNet("lenet5", 1, 28, 28)
	x := b.pool(b.conv("conv1", "x", 1, 20, 5, 0, 1))
	x = b.pool(b.conv("conv2", x, 20, 50, 5, 0, 1))
	if flattenOp == "Reshape" {
		b.g.Params["shape"] = tensor.FromData([]float32{-1, 800}, 2)
		x = b.node("flatten", "Reshape", nil, x, "shape")
	} else {
		x = b.node("flatten", "Flatten", map[string]graph.Attr{"axis": graph.IntAttr(1)}, x)
	}
	x = b.relu(b.gemm("fc1", x, 800, 500))
	return b.done(b.gemm("fc2", x, 500, 10), 10)
}

// resnet is a small residual CNN: a stem and two identity blocks, then a depthwise
// conv and a concat of two branches to cover those couplings too.
func resnet(tb testing.TB) *graph.Graph {
	tb.Helper()
	b := newNet("resnet", 1, 12, 12)
	x := b.relu(b.bn("bn0", b.conv("conv0", "x", 1, 8, 3, 1, 1), 8))
	for i, blk := range []string{"b1", "b2"} {
		_ = i
		h := b.relu(b.bn(blk+".bn1", b.conv(blk+".conv1", x, 8, 6, 3, 1, 1), 6))
		h = b.bn(blk+".bn2", b.conv(blk+".conv2", h, 6, 8, 3, 1, 1), 8)
		x = b.relu(b.node(blk+".add", "Add", nil, h, x))
	}
	dw := b.relu(b.bn("dw.bn", b.conv("dw", x, 8, 8, 3, 1, 8), 8))
	left := b.conv("left", dw, 8, 4, 1, 0, 1)
	right := b.conv("right", dw, 8, 6, 1, 0, 1)
	x = b.node("cat", "Concat", map[string]graph.Attr{"axis": graph.IntAttr(1)}, left, right)
	x = b.node("gap", "GlobalAveragePool", nil, b.relu(x))
	x = b.node("flatten", "Flatten", nil, x)
	return b.done(b.gemm("fc", x, 10, 10), 10)
}

// totals is the trainable parameter count of g, as pruning/metrics counts it.
func totals(tb testing.TB, g *graph.Graph) int64 {
	tb.Helper()
	r, err := metrics.Measure(g)
	if err != nil {
		tb.Fatal(err)
	}
	return r.Total.Params
}

// macsOf is the MACs per sample of g, as pruning/metrics counts them.
func macsOf(tb testing.TB, g *graph.Graph) int64 {
	tb.Helper()
	r, err := metrics.Measure(g)
	if err != nil {
		tb.Fatal(err)
	}
	return r.Total.MACs
}
