package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// MaxIDXBytes caps the payload of one IDX file (after decompression). A header that
// claims more is refused before anything is allocated; 1 GiB holds any MNIST-like set.
const MaxIDXBytes = 1 << 30

// maxIDXRank caps the number of dimensions an IDX header may declare.
const maxIDXRank = 8

// IDX element type codes (the third byte of the magic number).
const (
	idxUint8   = 0x08
	idxInt8    = 0x09
	idxInt16   = 0x0B
	idxInt32   = 0x0C
	idxFloat32 = 0x0D
	idxFloat64 = 0x0E
)

// ErrIDX is wrapped by every error about a malformed IDX file.
var ErrIDX = errors.New("malformed IDX data")

// IDX is a decoded IDX array: its dimensions, element type and big-endian payload.
type IDX struct {
	Dims []int
	// Type is the IDX element type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
	// 0x0D float32, 0x0E float64).
	Type byte
	raw  []byte
}

// Len is the number of elements.
func (x *IDX) Len() int { return len(x.raw) / idxElemSize(x.Type) }

// Float32s returns the elements converted to float32, each multiplied by scale.
func (x *IDX) Float32s(scale float32) []float32 {
	out := make([]float32, x.Len())
	for i := range out {
		out[i] = float32(x.at(i)) * scale
	}
	return out
}

// Ints returns the elements as integers; it fails on a non-integral value.
func (x *IDX) Ints() ([]int, error) {
	out := make([]int, x.Len())
	for i := range out {
		v := x.at(i)
		if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
			return nil, fmt.Errorf("idx: element %d = %v: %w: not an integer", i, v, ErrIDX)
		}
		out[i] = int(v)
	}
	return out, nil
}

func (x *IDX) at(i int) float64 {
	raw := x.raw
	switch x.Type {
	case idxUint8:
		return float64(raw[i])
	case idxInt8:
		return float64(int8(raw[i]))
	case idxInt16:
		return float64(int16(binary.BigEndian.Uint16(raw[2*i:])))
	case idxInt32:
		return float64(int32(binary.BigEndian.Uint32(raw[4*i:])))
	case idxFloat32:
		return float64(math.Float32frombits(binary.BigEndian.Uint32(raw[4*i:])))
	default:
		return math.Float64frombits(binary.BigEndian.Uint64(raw[8*i:]))
	}
}

func idxElemSize(t byte) int {
	switch t {
	case idxUint8, idxInt8:
		return 1
	case idxInt16:
		return 2
	case idxInt32, idxFloat32:
		return 4
	case idxFloat64:
		return 8
	}
	return 0
}

// ReadIDX decodes an IDX file, raw or gzip-compressed (detected from its first bytes).
// It never allocates more than the data actually present plus MaxIDXBytes of
// decompression: the header's sizes are checked against the bytes read, so truncated,
// oversized or hostile headers give an error wrapping ErrIDX.
func ReadIDX(r io.Reader) (*IDX, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("idx: gzip header: %w: %v", ErrIDX, err)
		}
		defer zr.Close()
		return readIDXRaw(zr)
	}
	return readIDXRaw(br)
}

// ReadIDXFile decodes the IDX file at path (raw or .gz).
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("idx: %w", err)
	}
	defer f.Close()
	x, err := ReadIDX(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

func readIDXRaw(r io.Reader) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("idx: magic number: %w: %v", ErrIDX, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("idx: magic number % x: %w: first two bytes must be zero", magic, ErrIDX)
	}
	elem := idxElemSize(magic[2])
	if elem == 0 {
		return nil, fmt.Errorf("idx: element type 0x%02x: %w: unknown type", magic[2], ErrIDX)
	}
	rank := int(magic[3])
	if rank == 0 || rank > maxIDXRank {
		return nil, fmt.Errorf("idx: rank %d: %w: want 1..%d dimensions", rank, ErrIDX, maxIDXRank)
	}
	dimBytes := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, dimBytes); err != nil {
		return nil, fmt.Errorf("idx: dimensions: %w: %v", ErrIDX, err)
	}
	dims := make([]int, rank)
	total := elem
	for i := range dims {
		d := binary.BigEndian.Uint32(dimBytes[4*i:])
		dims[i] = int(d)
		if d == 0 {
			total = 0
			continue
		}
		if total != 0 && uint64(total)*uint64(d) > MaxIDXBytes {
			return nil, fmt.Errorf("idx: dimensions %v: %w: payload exceeds %d bytes", dims[:i+1], ErrIDX, MaxIDXBytes)
		}
		total *= int(d)
	}
	// Read at most total+1 bytes: allocation follows the data present, not the header.
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, int64(total)+1))
	if err != nil {
		return nil, fmt.Errorf("idx: payload: %w: %v", ErrIDX, err)
	}
	if n < int64(total) {
		return nil, fmt.Errorf("idx: payload of %v: %w: truncated, have %d of %d bytes", dims, ErrIDX, n, total)
	}
	if n > int64(total) {
		return nil, fmt.Errorf("idx: payload of %v: %w: trailing bytes after %d", dims, ErrIDX, total)
	}
	return &IDX{Dims: dims, Type: magic[2], raw: buf.Bytes()}, nil
}
