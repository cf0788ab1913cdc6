package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"testing"
)

// idxBytes encodes an IDX file of uint8 values with the given dims.
func idxBytes(typ byte, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gz(t testing.TB, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadIDXRoundTrip(t *testing.T) {
	payload := []byte{0, 1, 2, 3, 250, 255}
	raw := idxBytes(idxUint8, []uint32{2, 3}, payload)
	for _, tt := range []struct {
		name string
		in   []byte
	}{{"raw", raw}, {"gzip", gz(t, raw)}} {
		t.Run(tt.name, func(t *testing.T) {
			x, err := ReadIDX(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(x.Dims) != 2 || x.Dims[0] != 2 || x.Dims[1] != 3 {
				t.Fatalf("dims = %v, want [2 3]", x.Dims)
			}
			got := x.Float32s(1)
			for i, v := range payload {
				if got[i] != float32(v) {
					t.Fatalf("value %d = %v, want %v", i, got[i], v)
				}
			}
		})
	}
}

func TestReadIDXTypes(t *testing.T) {
	var p bytes.Buffer
	_ = binary.Write(&p, binary.BigEndian, []int16{-2, 300})
	x, err := ReadIDX(bytes.NewReader(idxBytes(idxInt16, []uint32{2}, p.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	ints, err := x.Ints()
	if err != nil || ints[0] != -2 || ints[1] != 300 {
		t.Fatalf("int16 values = %v, %v; want [-2 300]", ints, err)
	}
	p.Reset()
	_ = binary.Write(&p, binary.BigEndian, []float32{1.5, -0.25})
	x, err = ReadIDX(bytes.NewReader(idxBytes(idxFloat32, []uint32{2}, p.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	if f := x.Float32s(1); f[0] != 1.5 || f[1] != -0.25 {
		t.Fatalf("float32 values = %v, want [1.5 -0.25]", f)
	}
	if _, err := x.Ints(); err == nil {
		t.Fatal("Ints of 1.5: no error, want one")
	}
}

func TestReadIDXHostile(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short magic", []byte{0, 0, 8}},
		{"bad magic", []byte{1, 0, 8, 1, 0, 0, 0, 1, 5}},
		{"unknown type", idxBytes(0x07, []uint32{1}, []byte{1})},
		{"rank zero", []byte{0, 0, 8, 0}},
		{"rank too big", []byte{0, 0, 8, 200}},
		{"truncated dims", []byte{0, 0, 8, 2, 0, 0, 0, 1}},
		{"truncated payload", idxBytes(idxUint8, []uint32{10}, []byte{1, 2, 3})},
		{"trailing bytes", idxBytes(idxUint8, []uint32{1}, []byte{1, 2})},
		{"huge header", idxBytes(idxUint8, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, []byte{1})},
		{"over cap", idxBytes(idxFloat64, []uint32{1 << 16, 1 << 16}, nil)},
		{"bad gzip", []byte{0x1f, 0x8b, 1, 2, 3}},
		{"truncated gzip", gz(t, idxBytes(idxUint8, []uint32{4}, []byte{1, 2, 3, 4}))[:20]},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadIDX(bytes.NewReader(tt.in))
			if !errors.Is(err, ErrIDX) {
				t.Fatalf("err = %v, want ErrIDX", err)
			}
		})
	}
}

func TestFromIDXChecks(t *testing.T) {
	img := func(n uint32) *IDX {
		x, err := ReadIDX(bytes.NewReader(idxBytes(idxUint8, []uint32{n, 2, 2}, make([]byte, 4*n))))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	lab := func(v ...byte) *IDX {
		x, err := ReadIDX(bytes.NewReader(idxBytes(idxUint8, []uint32{uint32(len(v))}, v)))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	d, err := FromIDX("ok", img(3), lab(0, 4, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.X.Shape; len(got) != 4 || got[0] != 3 || got[1] != 1 || got[2] != 2 || got[3] != 2 {
		t.Fatalf("shape = %v, want [3 1 2 2]", got)
	}
	if d.NumClasses != 5 {
		t.Fatalf("classes = %d, want 5", d.NumClasses)
	}
	if _, err := FromIDX("count", img(3), lab(0, 1)); err == nil {
		t.Fatal("3 images with 2 labels: no error")
	}
	if _, err := FromIDX("empty", img(0), lab()); err == nil {
		t.Fatal("zero images: no error")
	}
	if _, err := FromIDX("rank", lab(1, 2), lab(0, 1)); err == nil {
		t.Fatal("rank-1 images: no error")
	}
}

// FuzzReadIDX feeds arbitrary bytes (raw and gzip) to the IDX reader: it must return
// an error or a consistent array, never panic or allocate past the data.
func FuzzReadIDX(f *testing.F) {
	f.Add(idxBytes(idxUint8, []uint32{2, 3}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(idxBytes(idxFloat64, []uint32{1}, make([]byte, 8)))
	f.Add(idxBytes(idxUint8, []uint32{0xffffffff, 3}, nil))
	f.Add(gz(f, idxBytes(idxInt32, []uint32{1, 1}, []byte{0, 0, 0, 7})))
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrIDX) {
				t.Fatalf("error %v does not wrap ErrIDX", err)
			}
			return
		}
		n := 1
		for _, d := range x.Dims {
			n *= d
		}
		if n != x.Len() {
			t.Fatalf("dims %v hold %d values, have %d", x.Dims, n, x.Len())
		}
		_ = x.Float32s(1)
		_, _ = x.Ints()
	})
}
