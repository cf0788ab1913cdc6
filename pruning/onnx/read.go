package onnx

import (
	"fmt"
	"io"
	"os"
	"strconv"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"google.golang.org/protobuf/proto"
)

// ReadFile reads the ONNX model at path (see Read).
func ReadFile(path string) (*graph.Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	g, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// Read decodes an ONNX model into a graph. Initializers become Params (int64 ones,
// such as Reshape's shape, as float32 tensors holding the integers); Constant nodes stay
// nodes with a tensor attribute; a dim_param dimension becomes graph.DynamicDim.
// PyTorch's shape chains for x.view(x.size(0), -1) and its zero Pad before AveragePool
// are folded into constant Reshape shapes and Identity (see foldExport).
// Errors wrap ErrInvalid (malformed bytes, inconsistent graph) or ErrUnsupported (an
// operator the engine does not run, another data type, opset outside 11..17, external
// data), and name the node or tensor at fault. Read never panics on hostile input and
// allocates in proportion to the bytes it is given.
func Read(r io.Reader) (*graph.Graph, error) {
	buf, err := io.ReadAll(io.LimitReader(r, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("onnx: read: %w", err)
	}
	if int64(len(buf)) > MaxModelBytes {
		return nil, fmt.Errorf("onnx: %w: model larger than %d bytes", ErrInvalid, MaxModelBytes)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(buf, &m); err != nil {
		return nil, fmt.Errorf("onnx: %w: %v", ErrInvalid, err)
	}
	g, err := fromModel(&m)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return g, nil
}

func fromModel(m *pb.ModelProto) (*graph.Graph, error) {
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("%w: no graph", ErrInvalid)
	}
	opset := int64(0)
	for _, o := range m.GetOpsetImport() {
		if o.GetDomain() == "" || o.GetDomain() == "ai.onnx" {
			opset = o.GetVersion()
		}
	}
	if opset == 0 {
		return nil, fmt.Errorf("%w: no opset import for the default domain", ErrInvalid)
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, fmt.Errorf("%w: opset %d, the engine reads %d to %d (re-export with opset_version=%d)", ErrUnsupported, opset, MinOpset, MaxOpset, DefaultOpset)
	}
	if len(m.GetFunctions()) > 0 {
		return nil, fmt.Errorf("%w: model-local functions", ErrUnsupported)
	}
	gp := m.GetGraph()
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("%w: sparse initializer %q", ErrUnsupported, gp.GetSparseInitializer()[0].GetValues().GetName())
	}
	g := graph.New(gp.GetName(), opset)
	g.Doc = m.GetDocString()
	for _, ip := range gp.GetInitializer() {
		name := ip.GetName()
		if name == "" {
			return nil, fmt.Errorf("%w: initializer without a name", ErrInvalid)
		}
		if _, dup := g.Params[name]; dup {
			return nil, fmt.Errorf("%w: initializer %q defined twice", ErrInvalid, name)
		}
		t, err := toTensor(ip)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		g.Params[name] = t
	}
	for _, vi := range gp.GetInput() {
		if _, isParam := g.Params[vi.GetName()]; isParam {
			continue // IR < 4 lists initializers among the inputs
		}
		v, err := toValue("input", vi)
		if err != nil {
			return nil, err
		}
		g.Inputs = append(g.Inputs, v)
	}
	for _, vi := range gp.GetOutput() {
		v, err := toValue("output", vi)
		if err != nil {
			return nil, err
		}
		g.Outputs = append(g.Outputs, v)
	}
	names := map[string]bool{}
	for i, np := range gp.GetNode() {
		n, err := toNode(i, np, names)
		if err != nil {
			return nil, err
		}
		g.Nodes = append(g.Nodes, n)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := foldExport(g); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	for _, n := range g.Nodes {
		if !graph.SupportedOp(n.Op) || foldOnlyOps[n.Op] {
			return nil, fmt.Errorf("node %q: %w: operator %q", n.Name, ErrUnsupported, n.Op)
		}
	}
	return g, nil
}

// toValue converts a graph input or output; only float tensors are supported.
func toValue(kind string, vi *pb.ValueInfoProto) (graph.Value, error) {
	name := vi.GetName()
	if name == "" {
		return graph.Value{}, fmt.Errorf("%w: graph %s without a name", ErrInvalid, kind)
	}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		return graph.Value{}, fmt.Errorf("%w: graph %s %q is not a tensor", ErrUnsupported, kind, name)
	}
	if et := pb.TensorProto_DataType(tt.GetElemType()); et != pb.TensorProto_FLOAT {
		return graph.Value{}, fmt.Errorf("%w: graph %s %q has element type %s, the engine runs float32", ErrUnsupported, kind, name, et)
	}
	v := graph.Value{Name: name}
	if tt.GetShape() == nil {
		return v, nil
	}
	v.Shape = make([]int, 0, len(tt.GetShape().GetDim()))
	for i, d := range tt.GetShape().GetDim() {
		dim := graph.DynamicDim
		if dv, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok {
			if dv.DimValue < 0 || dv.DimValue > 1<<31 {
				return graph.Value{}, fmt.Errorf("%w: graph %s %q: dimension %d is %d", ErrInvalid, kind, name, i, dv.DimValue)
			}
			dim = int(dv.DimValue)
		}
		v.Shape = append(v.Shape, dim)
	}
	return v, nil
}

// toNode converts one node; names makes generated names unique.
func toNode(i int, np *pb.NodeProto, names map[string]bool) (*graph.Node, error) {
	name := np.GetName()
	if name == "" || names[name] {
		base := np.GetOpType() + "_" + strconv.Itoa(i)
		if name != "" {
			base = name + "_" + strconv.Itoa(i)
		}
		name = base
		for k := 1; names[name]; k++ {
			name = base + "_" + strconv.Itoa(k)
		}
	}
	names[name] = true
	if d := np.GetDomain(); d != "" && d != "ai.onnx" {
		return nil, fmt.Errorf("node %q: %w: operator %s of domain %q", name, ErrUnsupported, np.GetOpType(), d)
	}
	n := &graph.Node{
		Name:    name,
		Op:      np.GetOpType(),
		Inputs:  append([]string(nil), np.GetInput()...),
		Outputs: append([]string(nil), np.GetOutput()...),
	}
	for _, ap := range np.GetAttribute() {
		a, err := toAttr(ap)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): attribute %q: %w", name, n.Op, ap.GetName(), err)
		}
		if _, dup := n.Attrs[ap.GetName()]; dup {
			return nil, fmt.Errorf("node %q (%s): %w: attribute %q given twice", name, n.Op, ErrInvalid, ap.GetName())
		}
		n.SetAttr(ap.GetName(), a)
	}
	return n, nil
}

func toAttr(ap *pb.AttributeProto) (graph.Attr, error) {
	if ap.GetName() == "" {
		return graph.Attr{}, fmt.Errorf("%w: attribute without a name", ErrInvalid)
	}
	if ap.GetRefAttrName() != "" {
		return graph.Attr{}, fmt.Errorf("%w: function attribute reference", ErrUnsupported)
	}
	switch ap.GetType() {
	case pb.AttributeProto_INT:
		return graph.IntAttr(ap.GetI()), nil
	case pb.AttributeProto_FLOAT:
		return graph.FloatAttr(ap.GetF()), nil
	case pb.AttributeProto_STRING:
		return graph.StringAttr(string(ap.GetS())), nil
	case pb.AttributeProto_INTS:
		return graph.IntsAttr(append([]int64(nil), ap.GetInts()...)...), nil
	case pb.AttributeProto_FLOATS:
		return graph.FloatsAttr(append([]float32(nil), ap.GetFloats()...)...), nil
	case pb.AttributeProto_TENSOR:
		if ap.GetT() == nil {
			return graph.Attr{}, fmt.Errorf("%w: tensor attribute without a tensor", ErrInvalid)
		}
		t, err := toTensor(ap.GetT())
		if err != nil {
			return graph.Attr{}, err
		}
		return graph.Attr{Kind: graph.AttrTensor, Tensor: t}, nil
	default:
		return graph.Attr{}, fmt.Errorf("%w: attribute type %s", ErrUnsupported, ap.GetType())
	}
}
