package metrics_test

import (
	"testing"

	"github.com/fleetprune/fleetprune/pruning/metrics"
	"github.com/fleetprune/fleetprune/pruning/models"
)

func TestLeNetCounts(t *testing.T) {
	for _, tt := range []struct {
		arch   string
		params int64
		macs   int64
	}{
		// 784·300+300 + 300·100+100 + 100·10+10; MACs are the weight count.
		{"lenet-300-100", 266610, 266200},
		// conv1 20·25+20, conv2 50·20·25+50, fc 800·500+500, fc 500·10+10.
		// MACs: 20·24·24·25 + 50·8·8·500 + 800·500 + 500·10.
		{"lenet-5", 431080, 288000 + 1600000 + 400000 + 5000},
	} {
		t.Run(tt.arch, func(t *testing.T) {
			g, err := models.Build(tt.arch, 1)
			if err != nil {
				t.Fatal(err)
			}
			r, err := metrics.Measure(g)
			if err != nil {
				t.Fatal(err)
			}
			if r.Total.Params != tt.params || r.Total.MACs != tt.macs {
				t.Fatalf("params %d MACs %d, want %d and %d", r.Total.Params, r.Total.MACs, tt.params, tt.macs)
			}
			if r.Total.DenseBytes != 4*tt.params {
				t.Fatalf("dense bytes %d, want %d", r.Total.DenseBytes, 4*tt.params)
			}
			if r.Sparsity() > 0.01 { // zero-initialized biases only
				t.Fatalf("fresh model sparsity %v, want below 1%% (biases)", r.Sparsity())
			}

			// Zero half of the first weight matrix: nonzeros, sparse bytes and
			// nonzero MACs drop accordingly.
			var w string
			first := -1
			for i, n := range g.Nodes {
				if n.Op == "Gemm" || n.Op == "Conv" {
					w, first = n.Inputs[1], i
					break
				}
			}
			wt := g.Params[w]
			for i := 0; i < wt.Len()/2; i++ {
				wt.Data[i] = 0
			}
			r2, err := metrics.Measure(g)
			if err != nil {
				t.Fatal(err)
			}
			zeroed := int64(wt.Len() / 2)
			if r2.Total.NonZero != r.Total.NonZero-zeroed {
				t.Fatalf("nonzero %d, want %d", r2.Total.NonZero, r.Total.NonZero-zeroed)
			}
			if got, want := r2.Layers[first].SparseBytes, metrics.CSRBytes(wt.Shape, int64(wt.Len()-wt.Len()/2)); got < want {
				t.Fatalf("first layer sparse bytes %d, want at least the weight's CSR %d", got, want)
			}
			if r2.Total.NonZeroMACs >= r.Total.NonZeroMACs {
				t.Fatalf("nonzero MACs %d not below %d", r2.Total.NonZeroMACs, r.Total.NonZeroMACs)
			}
		})
	}
}

func TestResNetBatchNormStats(t *testing.T) {
	g, err := models.Build("resnet-8", 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := metrics.Measure(g)
	if err != nil {
		t.Fatal(err)
	}
	var all int64
	for _, p := range g.Params {
		all += int64(p.Len())
	}
	if r.Total.DenseBytes != 4*all {
		t.Fatalf("dense bytes %d, want every parameter: %d", r.Total.DenseBytes, 4*all)
	}
	if r.Total.Params >= all {
		t.Fatalf("trainable params %d should exclude BatchNormalization statistics (all %d)", r.Total.Params, all)
	}
	for _, l := range r.Layers {
		if l.Op == "Conv" && l.MACs == 0 {
			t.Fatalf("conv %s has no MACs", l.Name)
		}
		if len(l.OutputShape) == 0 || l.OutputShape[0] != 1 {
			t.Fatalf("layer %s output shape %v, want batch 1 first", l.Name, l.OutputShape)
		}
	}
}
