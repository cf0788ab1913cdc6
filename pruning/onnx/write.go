package onnx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"google.golang.org/protobuf/proto"
)

// producerName is written into every model this package saves.
const producerName = "fleetprune"

// dynamicDimName names a graph.DynamicDim dimension in written models.
const dynamicDimName = "batch"

// irVersion is the ONNX IR version that goes with each opset (onnx/helper.py's table).
func irVersion(opset int64) int64 {
	switch {
	case opset <= 11:
		return 6
	case opset <= 14:
		return 7
	default:
		return 8
	}
}

// Marshal encodes g as ONNX ModelProto bytes. A graph with opset 0 is written as
// DefaultOpset. It fails on a graph that does not validate, an opset outside 11..17 or
// a parameter whose shape and data disagree.
func Marshal(g *graph.Graph) ([]byte, error) {
	m, err := toModel(g)
	if err != nil {
		return nil, fmt.Errorf("onnx: write %q: %w", g.Name, err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("onnx: write %q: %w", g.Name, err)
	}
	return b, nil
}

// Write encodes g as an ONNX model onto w (see Marshal).
func Write(w io.Writer, g *graph.Graph) error {
	b, err := Marshal(g)
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("onnx: write %q: %w", g.Name, err)
	}
	return nil
}

// WriteFile saves g at path atomically: it writes a temporary file in the same folder,
// syncs it and renames it over path, so a reader never sees a partial model.
func WriteFile(path string, g *graph.Graph) (err error) {
	b, err := Marshal(g)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("onnx: save %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // make the rename durable; not every filesystem supports it
		d.Close()
	}
	return nil
}

func toModel(g *graph.Graph) (*pb.ModelProto, error) {
	opset := g.Opset
	if opset == 0 {
		opset = DefaultOpset
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, fmt.Errorf("%w: opset %d, the engine writes %d to %d", ErrUnsupported, opset, MinOpset, MaxOpset)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	types := valueTypes(g)
	gp := &pb.GraphProto{Name: g.Name}
	if gp.Name == "" {
		gp.Name = producerName // ONNX requires a graph name
	}
	names := make([]string, 0, len(g.Params))
	for k := range g.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		tp, err := fromTensor(k, g.Params[k], types[k])
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	for _, v := range g.Inputs {
		gp.Input = append(gp.Input, valueInfo(v))
	}
	for _, v := range g.Outputs {
		gp.Output = append(gp.Output, valueInfo(v))
	}
	for _, n := range g.Nodes {
		np := &pb.NodeProto{Name: n.Name, OpType: n.Op, Input: n.Inputs, Output: n.Outputs}
		keys := make([]string, 0, len(n.Attrs))
		for k := range n.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			dt := pb.TensorProto_FLOAT
			if n.Op == "Constant" && len(n.Outputs) == 1 {
				dt = types[n.Outputs[0]]
			}
			ap, err := fromAttr(k, n.Attrs[k], dt)
			if err != nil {
				return nil, fmt.Errorf("node %q (%s): attribute %q: %w", n.Name, n.Op, k, err)
			}
			np.Attribute = append(np.Attribute, ap)
		}
		gp.Node = append(gp.Node, np)
	}
	return &pb.ModelProto{
		IrVersion:    irVersion(opset),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: "", Version: opset}},
		ProducerName: producerName,
		DocString:    g.Doc,
		Graph:        gp,
	}, nil
}

// valueTypes returns the ONNX type of every value a node reads (see typedInputs);
// values absent from the map are FLOAT (the zero value is UNDEFINED, taken as FLOAT).
func valueTypes(g *graph.Graph) map[string]pb.TensorProto_DataType {
	out := map[string]pb.TensorProto_DataType{}
	for _, n := range g.Nodes {
		for i, dt := range typedInputs[n.Op] {
			if i < len(n.Inputs) && n.Inputs[i] != "" {
				out[n.Inputs[i]] = dt
			}
		}
	}
	return out
}

func valueInfo(v graph.Value) *pb.ValueInfoProto {
	tt := &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT)}
	if v.Shape != nil {
		tt.Shape = &pb.TensorShapeProto{}
		for _, d := range v.Shape {
			dim := &pb.TensorShapeProto_Dimension{}
			if d < 0 {
				dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: dynamicDimName}
			} else {
				dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dim)
		}
	}
	return &pb.ValueInfoProto{Name: v.Name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}}
}

func fromAttr(name string, a graph.Attr, tensorType pb.TensorProto_DataType) (*pb.AttributeProto, error) {
	ap := &pb.AttributeProto{Name: name}
	switch a.Kind {
	case graph.AttrInt:
		ap.Type, ap.I = pb.AttributeProto_INT, a.Int
	case graph.AttrFloat:
		ap.Type, ap.F = pb.AttributeProto_FLOAT, a.Float
	case graph.AttrString:
		ap.Type, ap.S = pb.AttributeProto_STRING, []byte(a.String)
	case graph.AttrInts:
		ap.Type, ap.Ints = pb.AttributeProto_INTS, a.Ints
	case graph.AttrFloats:
		ap.Type, ap.Floats = pb.AttributeProto_FLOATS, a.Floats
	case graph.AttrTensor:
		if a.Tensor == nil {
			return nil, fmt.Errorf("%w: tensor attribute without a tensor", ErrInvalid)
		}
		tp, err := fromTensor("", a.Tensor, tensorType)
		if err != nil {
			return nil, err
		}
		ap.Type, ap.T = pb.AttributeProto_TENSOR, tp
	default:
		return nil, fmt.Errorf("%w: attribute kind %d", ErrInvalid, a.Kind)
	}
	return ap, nil
}
