package onnx_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
	"google.golang.org/protobuf/proto"
)

func floatType(dims ...int64) *pb.TypeProto {
	s := &pb.TensorShapeProto{}
	for _, d := range dims {
		dim := &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
		if d < 0 {
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		}
		s.Dim = append(s.Dim, dim)
	}
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT), Shape: s}}}
}

func rawF32(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// smallModel is a valid one-Gemm model: y = x·Wᵀ + b with x of shape (N, 2).
func smallModel() *pb.ModelProto {
	return &pb.ModelProto{
		IrVersion:   7,
		OpsetImport: []*pb.OperatorSetIdProto{{Version: 13}},
		Graph: &pb.GraphProto{
			Name: "small",
			Node: []*pb.NodeProto{{
				Name: "fc", OpType: "Gemm", Input: []string{"x", "W", "b"}, Output: []string{"h"},
				Attribute: []*pb.AttributeProto{{Name: "transB", Type: pb.AttributeProto_INT, I: 1}},
			}, {
				Name: "shape", OpType: "Constant", Output: []string{"s"},
				Attribute: []*pb.AttributeProto{{Name: "value", Type: pb.AttributeProto_TENSOR, T: &pb.TensorProto{
					Dims: []int64{2}, DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{-1, 3},
				}}},
			}, {
				OpType: "Reshape", Input: []string{"h", "s"}, Output: []string{"y"},
			}},
			Initializer: []*pb.TensorProto{
				{Name: "W", Dims: []int64{3, 2}, DataType: int32(pb.TensorProto_FLOAT), FloatData: []float32{1, 2, 3, 4, 5, 6}},
				{Name: "b", Dims: []int64{3}, DataType: int32(pb.TensorProto_FLOAT), RawData: rawF32(0.5, -1, 2)},
			},
			Input:  []*pb.ValueInfoProto{{Name: "x", Type: floatType(-1, 2)}},
			Output: []*pb.ValueInfoProto{{Name: "y", Type: floatType(-1, 3)}},
		},
	}
}

func marshal(t testing.TB, m *pb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadSmallModel(t *testing.T) {
	g, err := onnx.Read(bytes.NewReader(marshal(t, smallModel())))
	if err != nil {
		t.Fatal(err)
	}
	if g.Nodes[2].Name != "Reshape_2" {
		t.Fatalf("unnamed node got name %q, want Reshape_2", g.Nodes[2].Name)
	}
	if got := g.Inputs[0].Shape; got[0] != graph.DynamicDim || got[1] != 2 {
		t.Fatalf("input shape = %v, want [DynamicDim 2]", got)
	}
	if c := g.Nodes[1].Attrs["value"].Tensor; c == nil || c.Data[0] != -1 || c.Data[1] != 3 {
		t.Fatalf("int64 constant = %v, want [-1 3]", c)
	}
	out := run(t, g, "x", tensor.FromData([]float32{1, 1}, 1, 2))["y"]
	if want := []float32{3.5, 6, 13}; !reflect.DeepEqual(out.Data, want) {
		t.Fatalf("y = %v, want %v", out.Data, want)
	}

	// Written back, the Reshape shape is int64 again (ONNX Runtime insists on it).
	b, err := onnx.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if dt := m.Graph.Node[1].Attribute[0].T.DataType; dt != int32(pb.TensorProto_INT64) {
		t.Fatalf("reshape shape written as %v, want INT64", pb.TensorProto_DataType(dt))
	}
	if m.Graph.Input[0].Type.GetTensorType().Shape.Dim[0].GetDimParam() == "" {
		t.Fatal("dynamic batch dimension written without dim_param")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	g, err := onnx.Read(bytes.NewReader(marshal(t, smallModel())))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := onnx.WriteFile(path, g); err != nil {
		t.Fatal(err)
	}
	if _, err := onnx.ReadFile(path); err != nil {
		t.Fatalf("read written file: %v", err)
	}
	bad := g.Clone()
	bad.Nodes[0].Inputs[0] = "nowhere"
	if err := onnx.WriteFile(path, bad); err == nil {
		t.Fatal("invalid graph written without error")
	}
	if _, err := onnx.ReadFile(path); err != nil {
		t.Fatalf("failed write damaged the previous file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("folder holds %d files after writes, want 1 (no temp files left)", len(entries))
	}
}

func TestReadErrors(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(m *pb.ModelProto)
		want   error
		text   string
	}{
		{"unsupported op", func(m *pb.ModelProto) { m.Graph.Node[0].OpType = "LSTM" }, onnx.ErrUnsupported, `"fc": unsupported ONNX feature: operator "LSTM"`},
		{"custom domain", func(m *pb.ModelProto) { m.Graph.Node[0].Domain = "com.microsoft" }, onnx.ErrUnsupported, "com.microsoft"},
		{"old opset", func(m *pb.ModelProto) { m.OpsetImport[0].Version = 9 }, onnx.ErrUnsupported, "opset 9"},
		{"new opset", func(m *pb.ModelProto) { m.OpsetImport[0].Version = 18 }, onnx.ErrUnsupported, "opset 18"},
		{"no opset", func(m *pb.ModelProto) { m.OpsetImport = nil }, onnx.ErrInvalid, "opset"},
		{"no graph", func(m *pb.ModelProto) { m.Graph = nil }, onnx.ErrInvalid, "no graph"},
		{"external data", func(m *pb.ModelProto) {
			w := m.Graph.Initializer[0]
			w.FloatData = nil
			w.DataLocation = pb.TensorProto_EXTERNAL
			w.ExternalData = []*pb.StringStringEntryProto{{Key: "location", Value: "weights.bin"}}
		}, onnx.ErrUnsupported, `"W": unsupported ONNX feature: external data`},
		{"short raw data", func(m *pb.ModelProto) { m.Graph.Initializer[1].RawData = rawF32(1) }, onnx.ErrInvalid, `"b"`},
		{"double initializer", func(m *pb.ModelProto) { m.Graph.Initializer[0].DataType = int32(pb.TensorProto_DOUBLE) }, onnx.ErrUnsupported, "DOUBLE"},
		{"huge dims", func(m *pb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{1 << 40, 1 << 40} }, onnx.ErrInvalid, `"W"`},
		{"negative dim", func(m *pb.ModelProto) { m.Graph.Initializer[0].Dims = []int64{-3, -2} }, onnx.ErrInvalid, `"W"`},
		{"big int64", func(m *pb.ModelProto) {
			m.Graph.Node[1].Attribute[0].T.Int64Data = []int64{-1, 1 << 40}
		}, onnx.ErrUnsupported, "does not fit"},
		{"int input", func(m *pb.ModelProto) {
			m.Graph.Input[0].Type.GetTensorType().ElemType = int32(pb.TensorProto_INT64)
		}, onnx.ErrUnsupported, `input "x"`},
		{"graph attribute", func(m *pb.ModelProto) {
			m.Graph.Node[0].Attribute = append(m.Graph.Node[0].Attribute, &pb.AttributeProto{Name: "body", Type: pb.AttributeProto_GRAPH, G: &pb.GraphProto{}})
		}, onnx.ErrUnsupported, `attribute "body"`},
		{"undefined input", func(m *pb.ModelProto) { m.Graph.Node[0].Input[0] = "ghost" }, onnx.ErrInvalid, "ghost"},
		{"duplicate initializer", func(m *pb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, m.Graph.Initializer[0])
		}, onnx.ErrInvalid, "twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := smallModel()
			tt.mutate(m)
			_, err := onnx.Read(bytes.NewReader(marshal(t, m)))
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %v containing %q", err, tt.want, tt.text)
			}
		})
	}
	if _, err := onnx.Read(strings.NewReader("not a protobuf \xff\xff\xff")); !errors.Is(err, onnx.ErrInvalid) {
		t.Fatalf("garbage bytes: err = %v, want ErrInvalid", err)
	}
}

// FuzzRead feeds hostile bytes to the reader: it must return an error or a graph that
// writes and reads back to the same bytes, never panic.
func FuzzRead(f *testing.F) {
	f.Add(marshal(f, smallModel()))
	if b, err := os.ReadFile(filepath.Join(testdata, "resnet_op13.onnx")); err == nil {
		f.Add(b)
	}
	m := smallModel()
	m.Graph.Initializer[0].Dims = []int64{1 << 30, 1 << 30}
	f.Add(marshal(f, m))
	f.Add([]byte{0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, in []byte) {
		g, err := onnx.Read(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, onnx.ErrInvalid) && !errors.Is(err, onnx.ErrUnsupported) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrUnsupported", err)
			}
			return
		}
		b, err := onnx.Marshal(g)
		if err != nil {
			t.Fatalf("read graph does not write: %v", err)
		}
		g2, err := onnx.Read(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("written graph does not read: %v", err)
		}
		b2, err := onnx.Marshal(g2)
		if err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed the graph (%v)", err)
		}
	})
}

// TestFoldPyTorchShapeChain checks that x.view(x.size(0), -1), exported as
// Shape/Gather/Unsqueeze/Concat, folds into a constant Reshape shape [0, -1] and that
// PyTorch's zero Pad becomes Identity.
func TestFoldPyTorchShapeChain(t *testing.T) {
	g, err := onnx.ReadFile(filepath.Join(testdata, "mixed_op13.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	var reshape *graph.Node
	for _, n := range g.Nodes {
		switch n.Op {
		case "Shape", "Gather", "Unsqueeze", "Pad":
			t.Fatalf("node %s (%s) left after folding", n.Name, n.Op)
		case "Reshape":
			reshape = n
		}
	}
	if reshape == nil {
		t.Fatal("no Reshape node")
	}
	if s := g.Params[reshape.Inputs[1]]; s == nil || !reflect.DeepEqual(s.Data, []float32{0, -1}) {
		t.Fatalf("reshape shape = %v, want [0 -1]", s)
	}

	// A chain that reads another tensor's shape is not folded: the error names Shape.
	m := smallModel()
	m.Graph.Node = append(m.Graph.Node[:1:1],
		&pb.NodeProto{Name: "sh", OpType: "Shape", Input: []string{"x"}, Output: []string{"xs"}},
		&pb.NodeProto{OpType: "Reshape", Input: []string{"h", "xs"}, Output: []string{"y"}},
	)
	_, err = onnx.Read(bytes.NewReader(marshal(t, m)))
	if !errors.Is(err, onnx.ErrUnsupported) || !strings.Contains(err.Error(), `"sh": unsupported ONNX feature: operator "Shape"`) {
		t.Fatalf("err = %v, want unsupported Shape at node sh", err)
	}
}
