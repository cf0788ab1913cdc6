package metrics_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/models"
)

func TestConfusion(t *testing.T) {
	c := metrics.Confusion{
		{8, 2, 0},
		{1, 5, 4},
		{0, 0, 0},
	}
	acc, sup := c.ClassAccuracy()
	if acc[0] != 0.8 || acc[1] != 0.5 || acc[2] != 0 || sup[1] != 10 {
		t.Fatalf("accuracy %v support %v, want [0.8 0.5 0] and 10 for class 1", acc, sup)
	}
	got := c.MostConfused(2)
	want := []metrics.Pair{{1, 2, 4}, {0, 1, 2}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("most confused = %v, want %v", got, want)
	}
	var b bytes.Buffer
	if err := c.WriteSummary(&b, []string{"cat", "dog", "emu"}, 3); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "dog          → emu") {
		t.Fatalf("summary lacks the dog → emu pair:\n%s", b.String())
	}
}

func TestWriteTable(t *testing.T) {
	g, err := models.Build("lenet-300-100", 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := metrics.Measure(g)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"266,610", "Gemm", "[1×300]", "total"} {
		if !strings.Contains(out, want) {
			t.Fatalf("table lacks %q:\n%s", want, out)
		}
	}
}
