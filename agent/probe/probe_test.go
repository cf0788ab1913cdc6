package probe

import (
	"errors"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func TestBatchDeterministic(t *testing.T) {
	a, err := Batch(42, []int64{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Batch(42, []int64{1, 28, 28})
	c, _ := Batch(43, []int64{1, 28, 28})
	if got, want := a.Shape, []int{BatchSize, 1, 28, 28}; !tensor.SameShape(got, want) {
		t.Fatalf("shape = %v, want %v", got, want)
	}
	same, diff := 0, 0
	for i := range a.Data {
		if a.Data[i] < 0 || a.Data[i] >= 1 {
			t.Fatalf("value %d = %g, want in [0,1)", i, a.Data[i])
		}
		if a.Data[i] == b.Data[i] {
			same++
		}
		if a.Data[i] != c.Data[i] {
			diff++
		}
	}
	if same != len(a.Data) {
		t.Errorf("same seed: %d of %d values equal, want all", same, len(a.Data))
	}
	if diff < len(a.Data)*9/10 {
		t.Errorf("other seed: only %d of %d values differ", diff, len(a.Data))
	}
}

func TestBatchRejectsBadShapes(t *testing.T) {
	for _, shape := range [][]int64{nil, {0}, {3, -1}, {1 << 20, 1 << 20}} {
		if _, err := Batch(1, shape); !errors.Is(err, ErrShape) {
			t.Errorf("Batch(%v) err = %v, want ErrShape", shape, err)
		}
	}
}

func TestOutputChecksum(t *testing.T) {
	logits := tensor.FromData([]float32{
		0.1, 0.9, 0.3, 0.2,
		5, 4, 3, 2,
	}, 2, 4)
	base, err := OutputChecksum([]*tensor.Tensor{logits})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(base, ChecksumPrefix) {
		t.Fatalf("checksum %q lacks prefix %q", base, ChecksumPrefix)
	}
	// Float noise of the size thread counts or sparse kernels cause keeps it.
	noisy := logits.Clone()
	for i := range noisy.Data {
		noisy.Data[i] += 1e-6 * float32(i%3)
	}
	// A different ranking in row 0 changes it.
	swapped := logits.Clone()
	swapped.Data[1], swapped.Data[2] = swapped.Data[2], swapped.Data[1]
	// The same ranking in another shape changes it.
	reshaped := logits.Clone().Reshape(1, 8)

	tests := []struct {
		name  string
		out   *tensor.Tensor
		equal bool
	}{
		{"noise", noisy, true},
		{"swapped ranking", swapped, false},
		{"reshaped", reshaped, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := OutputChecksum([]*tensor.Tensor{tt.out})
			if err != nil {
				t.Fatal(err)
			}
			if (got == base) != tt.equal {
				t.Errorf("checksum %s vs base %s: equal = %v, want %v", got, base, got == base, tt.equal)
			}
		})
	}
}

func TestOutputChecksumRejects(t *testing.T) {
	nan := tensor.FromData([]float32{1, float32(nanValue())}, 1, 2)
	for name, outs := range map[string][]*tensor.Tensor{
		"none":   nil,
		"nil":    {nil},
		"scalar": {tensor.New()},
		"nan":    {nan},
	} {
		if _, err := OutputChecksum(outs); !errors.Is(err, ErrShape) {
			t.Errorf("%s: err = %v, want ErrShape", name, err)
		}
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}
