// Package onnx reads and writes ONNX models (ModelProto, opsets 11 to 17) as the
// engine's graph IR, using the generated ONNX types of
// github.com/advancedclimatesystems/gonnx/onnx.
package onnx

import (
	"errors"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// Opset range the engine reads and writes (default domain).
const (
	MinOpset     = 11
	MaxOpset     = 17
	DefaultOpset = 13
)

// MaxModelBytes caps the size of a model file: protobuf itself cannot exceed 2 GiB.
// It is an int64 so the package builds for 32-bit targets (linux/arm agents).
const MaxModelBytes int64 = 1 << 31

// Sentinel errors; every error this package returns about a model wraps one of them.
var (
	// ErrInvalid is a model that is malformed: bad protobuf, inconsistent shapes or
	// sizes, undefined values.
	ErrInvalid = errors.New("invalid ONNX model")
	// ErrUnsupported is a well-formed model using something the engine does not run:
	// an operator, data type, opset, attribute kind or external data.
	ErrUnsupported = errors.New("unsupported ONNX feature")
)

// typedInputs lists, per operator, the input positions that ONNX types as int64 or
// bool rather than float. The graph IR holds every constant as float32, so they are
// converted on read and written back with their ONNX type.
var typedInputs = map[string]map[int]pb.TensorProto_DataType{
	"Reshape": {1: pb.TensorProto_INT64},
	"Dropout": {2: pb.TensorProto_BOOL},
}
