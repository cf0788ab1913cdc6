package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// maxExactInt is the largest integer magnitude float32 holds exactly.
const maxExactInt = 1 << 24

// toTensor converts a TensorProto (FLOAT, or INT64/INT32 holding small integers) into a
// float32 tensor. Its allocation is bounded by the bytes of the message.
func toTensor(tp *pb.TensorProto) (*tensor.Tensor, error) {
	name := tp.GetName()
	if len(tp.GetExternalData()) > 0 || tp.GetDataLocation() == pb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: %w: external data (re-export the model with its weights embedded, e.g. onnx.save(model, path, save_as_external_data=False))", name, ErrUnsupported)
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q: %w: segmented tensor", name, ErrUnsupported)
	}
	shape := make([]int, len(tp.GetDims()))
	size := 1
	for i, d := range tp.GetDims() {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("tensor %q: %w: dimension %d is %d", name, ErrInvalid, i, d)
		}
		shape[i] = int(d)
		if size > 0 && d > 0 && size > math.MaxInt32/int(d) {
			return nil, fmt.Errorf("tensor %q: %w: dimensions %v too large", name, ErrInvalid, tp.GetDims())
		}
		size *= int(d)
	}
	raw := tp.GetRawData()
	var data []float32
	switch dt := pb.TensorProto_DataType(tp.GetDataType()); dt {
	case pb.TensorProto_FLOAT:
		switch {
		case raw != nil:
			if len(raw) != 4*size {
				return nil, fmt.Errorf("tensor %q: %w: raw_data has %d bytes, shape %v needs %d", name, ErrInvalid, len(raw), shape, 4*size)
			}
			data = make([]float32, size)
			for i := range data {
				data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		default:
			if len(tp.GetFloatData()) != size {
				return nil, fmt.Errorf("tensor %q: %w: float_data has %d values, shape %v needs %d", name, ErrInvalid, len(tp.GetFloatData()), shape, size)
			}
			data = append([]float32(nil), tp.GetFloatData()...)
		}
	case pb.TensorProto_INT64, pb.TensorProto_INT32:
		var ints []int64
		switch {
		case raw != nil && dt == pb.TensorProto_INT64:
			if len(raw) != 8*size {
				return nil, fmt.Errorf("tensor %q: %w: raw_data has %d bytes, shape %v needs %d", name, ErrInvalid, len(raw), shape, 8*size)
			}
			ints = make([]int64, size)
			for i := range ints {
				ints[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		case raw != nil:
			if len(raw) != 4*size {
				return nil, fmt.Errorf("tensor %q: %w: raw_data has %d bytes, shape %v needs %d", name, ErrInvalid, len(raw), shape, 4*size)
			}
			ints = make([]int64, size)
			for i := range ints {
				ints[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
		case dt == pb.TensorProto_INT64:
			ints = tp.GetInt64Data()
		default:
			for _, v := range tp.GetInt32Data() {
				ints = append(ints, int64(v))
			}
		}
		if len(ints) != size {
			return nil, fmt.Errorf("tensor %q: %w: %d integer values, shape %v needs %d", name, ErrInvalid, len(ints), shape, size)
		}
		data = make([]float32, size)
		for i, v := range ints {
			if v > maxExactInt || v < -maxExactInt {
				return nil, fmt.Errorf("tensor %q: %w: integer %d does not fit the engine's float32 constants", name, ErrUnsupported, v)
			}
			data[i] = float32(v)
		}
	case pb.TensorProto_BOOL:
		var bs []byte
		if raw != nil {
			bs = raw
		} else {
			for _, v := range tp.GetInt32Data() {
				bs = append(bs, byte(min(max(v, 0), 1)))
			}
		}
		if len(bs) != size {
			return nil, fmt.Errorf("tensor %q: %w: %d bool values, shape %v needs %d", name, ErrInvalid, len(bs), shape, size)
		}
		data = make([]float32, size)
		for i, b := range bs {
			if b != 0 {
				data[i] = 1
			}
		}
	default:
		return nil, fmt.Errorf("tensor %q: %w: data type %s (the engine holds float32, and int64/int32/bool constants)", name, ErrUnsupported, dt)
	}
	return &tensor.Tensor{Shape: shape, Data: data}, nil
}

// fromTensor encodes a float32 tensor as a TensorProto with raw_data, as FLOAT
// (UNDEFINED is taken as FLOAT), INT64 or BOOL; integer types need integral values.
func fromTensor(name string, t *tensor.Tensor, dt pb.TensorProto_DataType) (*pb.TensorProto, error) {
	if t.Len() != tensor.Size(t.Shape) {
		return nil, fmt.Errorf("tensor %q: %d values for shape %v", name, t.Len(), t.Shape)
	}
	tp := &pb.TensorProto{Name: name, Dims: make([]int64, len(t.Shape))}
	for i, d := range t.Shape {
		tp.Dims[i] = int64(d)
	}
	switch dt {
	case pb.TensorProto_INT64, pb.TensorProto_BOOL:
		for _, v := range t.Data {
			if v != float32(math.Trunc(float64(v))) || (dt == pb.TensorProto_BOOL && v != 0 && v != 1) {
				return nil, fmt.Errorf("tensor %q: value %v cannot be written as %s", name, v, dt)
			}
		}
		tp.DataType = int32(dt)
		if dt == pb.TensorProto_BOOL {
			tp.RawData = make([]byte, t.Len())
			for i, v := range t.Data {
				tp.RawData[i] = byte(v)
			}
			return tp, nil
		}
		tp.RawData = make([]byte, 8*t.Len())
		for i, v := range t.Data {
			binary.LittleEndian.PutUint64(tp.RawData[8*i:], uint64(int64(v)))
		}
		return tp, nil
	}
	tp.DataType = int32(pb.TensorProto_FLOAT)
	tp.RawData = make([]byte, 4*t.Len())
	for i, v := range t.Data {
		binary.LittleEndian.PutUint32(tp.RawData[4*i:], math.Float32bits(v))
	}
	return tp, nil
}
