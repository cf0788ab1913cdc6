package prune

import (
	"reflect"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

func TestRemoveShapes(t *testing.T) {
	tests := []struct {
		name   string
		g      func(testing.TB) *graph.Graph
		remove map[string][]int
		want   map[string][]int // param → shape after
		attrs  map[string]int64 // node → group attribute after
	}{
		{"mlp", func(tb testing.TB) *graph.Graph { return mlp(tb, 300, 100) },
			map[string][]int{"fc1": {0, 5, 299}, "fc2": {1}},
			map[string][]int{"fc1.weight": {297, 784}, "fc1.bias": {297}, "fc2.weight": {99, 297}, "fc2.bias": {99}, "fc3.weight": {10, 99}}, nil},
		{"lenet5 flatten", func(tb testing.TB) *graph.Graph { return lenet5(tb, "Flatten") },
			map[string][]int{"conv1": {0, 1}, "conv2": {4, 5, 6}},
			map[string][]int{"conv1.weight": {18, 1, 5, 5}, "conv2.weight": {47, 18, 5, 5}, "conv2.bias": {47}, "fc1.weight": {500, 47 * 16}}, nil},
		{"lenet5 reshape", func(tb testing.TB) *graph.Graph { return lenet5(tb, "Reshape") },
			map[string][]int{"conv2": {4, 5, 6}},
			map[string][]int{"conv2.weight": {47, 20, 5, 5}, "fc1.weight": {500, 47 * 16}}, nil},
		{"resnet", resnet,
			map[string][]int{"conv0": {1, 2}, "b1.conv1": {0}, "right": {5}},
			map[string][]int{"conv0.weight": {6, 1, 3, 3}, "bn0.weight": {6}, "b1.conv1.weight": {5, 6, 3, 3},
				"b1.conv2.weight": {6, 5, 3, 3}, "b2.conv2.weight": {6, 6, 3, 3}, "b2.bn2.running_var": {6},
				"dw.weight": {6, 1, 3, 3}, "left.weight": {4, 6, 1, 1}, "right.weight": {5, 6, 1, 1}, "fc.weight": {10, 9}},
			map[string]int64{"dw": 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g(t)
			before := g.Clone()
			d := mustBuild(t, g)
			out, err := d.Remove(tt.remove)
			if err != nil {
				t.Fatal(err)
			}
			for p, want := range tt.want {
				if got := out.Params[p].Shape; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got shape %v, want %v", p, got, want)
				}
			}
			for n, want := range tt.attrs {
				if got := out.Node(n).AttrInt("group", 1); got != want {
					t.Errorf("node %s group: got %d, want %d", n, got, want)
				}
			}
			if err := out.Validate(); err != nil {
				t.Fatal(err)
			}
			if _, err := inferShapes(out); err != nil {
				t.Fatalf("pruned graph shapes: %v", err)
			}
			for p, tns := range before.Params {
				if !reflect.DeepEqual(g.Params[p], tns) {
					t.Fatalf("Remove changed the input graph's %s", p)
				}
			}
		})
	}
}

func TestRemoveKeepsTheRightRows(t *testing.T) {
	g := mlp(t, 6, 4)
	d := mustBuild(t, g)
	out, err := d.Remove(map[string][]int{"fc1": {1, 3}})
	if err != nil {
		t.Fatal(err)
	}
	w, pw := g.Params["fc1.weight"], out.Params["fc1.weight"]
	for i, row := range []int{0, 2, 4, 5} {
		if got, want := pw.Data[i*784+17], w.Data[row*784+17]; got != want {
			t.Errorf("pruned fc1 row %d col 17: got %v, want original row %d's %v", i, got, row, want)
		}
	}
	w2, pw2 := g.Params["fc2.weight"], out.Params["fc2.weight"]
	for r := 0; r < 4; r++ {
		for i, col := range []int{0, 2, 4, 5} {
			if got, want := pw2.Data[r*4+i], w2.Data[r*6+col]; got != want {
				t.Errorf("pruned fc2[%d][%d]: got %v, want original column %d's %v", r, i, got, col, want)
			}
		}
	}
}

func TestRemoveErrors(t *testing.T) {
	d := mustBuild(t, mlp(t, 6, 4))
	for _, tt := range []struct {
		name   string
		remove map[string][]int
	}{
		{"unknown group", map[string][]int{"fc9": {0}}},
		{"output layer", map[string][]int{"fc3": {0}}},
		{"index out of range", map[string][]int{"fc1": {6}}},
		{"negative index", map[string][]int{"fc1": {-1}}},
		{"everything", map[string][]int{"fc2": {0, 1, 2, 3}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := d.Remove(tt.remove); err == nil {
				t.Fatalf("got no error for %v", tt.remove)
			}
		})
	}
}
