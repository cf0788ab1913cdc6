package prune

import (
	"reflect"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/graph"
)

func TestBuildGroups(t *testing.T) {
	tests := []struct {
		name   string
		build  func(testing.TB) *DepGraph
		groups map[string]int      // group → units
		layers map[string][]string // group → coupled producing layers, when more than one
	}{
		{"mlp", func(tb testing.TB) *DepGraph { return mustBuild(tb, mlp(tb, 300, 100)) },
			map[string]int{"fc1": 300, "fc2": 100}, nil},
		{"lenet5 flatten", func(tb testing.TB) *DepGraph { return mustBuild(tb, lenet5(tb, "Flatten")) },
			map[string]int{"conv1": 20, "conv2": 50, "fc1": 500}, nil},
		{"lenet5 reshape", func(tb testing.TB) *DepGraph { return mustBuild(tb, lenet5(tb, "Reshape")) },
			map[string]int{"conv1": 20, "conv2": 50, "fc1": 500}, nil},
		{"resnet", func(tb testing.TB) *DepGraph { return mustBuild(tb, resnet(tb)) },
			map[string]int{"conv0": 8, "b1.conv1": 6, "b2.conv1": 6, "left": 4, "right": 6},
			map[string][]string{"conv0": {"conv0", "b1.conv2", "b2.conv2", "dw"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.build(t)
			got := map[string]int{}
			for _, gr := range d.Groups {
				got[gr.Name] = gr.Size()
			}
			if !reflect.DeepEqual(got, tt.groups) {
				t.Fatalf("groups: got %v, want %v", got, tt.groups)
			}
			for name, want := range tt.layers {
				if got := d.Group(name).Layers; !reflect.DeepEqual(got, want) {
					t.Errorf("group %s layers: got %v, want %v", name, got, want)
				}
			}
		})
	}
}

func TestFlattenUnitsCarryTheirFeatureBlock(t *testing.T) {
	d := mustBuild(t, lenet5(t, "Flatten"))
	u := d.Group("conv2").Units[3]
	var cols []int
	for _, s := range u.Slices {
		if s.Param == "fc1.weight" {
			if s.Axis != 1 {
				t.Fatalf("fc1.weight slice on axis %d, want 1", s.Axis)
			}
			cols = append(cols, s.Index)
		}
	}
	if len(cols) != 16 || cols[0] != 48 || cols[15] != 63 {
		t.Fatalf("conv2 channel 3 maps to fc1 columns %v, want 48..63", cols)
	}
}

func mustBuild(tb testing.TB, gg *graph.Graph) *DepGraph {
	tb.Helper()
	if err := gg.Validate(); err != nil {
		tb.Fatal(err)
	}
	d, err := Build(gg)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
