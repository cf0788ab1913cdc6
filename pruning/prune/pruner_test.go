package prune

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/plan"
	"github.com/fleetprune/fleetprune/pruning/train"
)

func mnistSubsets(t *testing.T, nTrain, nVal int) (*data.Dataset, *data.Dataset) {
	t.Helper()
	set, err := data.Load("mnist", "test")
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(set.Len(), 5)
	return set.Subset("mnist/train", idx[:nTrain]), set.Subset("mnist/val", idx[nTrain:nTrain+nVal])
}

func build(t *testing.T, arch string) *graph.Graph {
	t.Helper()
	g, err := models.Build(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPrunedWeightsStayZeroThroughFinetuning(t *testing.T) {
	if testing.Short() {
		t.Skip("fine-tunes a model; skipped in -short")
	}
	tr, val := mnistSubsets(t, 1200, 200)
	base := build(t, "lenet-300-100")
	for _, tt := range []struct {
		method   Method
		schedule ScheduleKind
	}{
		{UnstructuredGlobal, ScheduleOneShot},
		{UnstructuredLayer, ScheduleIterative},
		{UnstructuredGlobal, ScheduleCubic},
	} {
		t.Run(string(tt.method)+"/"+string(tt.schedule), func(t *testing.T) {
			steps := 0
			res, err := Prune(context.Background(), base, Config{Method: tt.method, Schedule: tt.schedule, Stages: 2,
				Target: Target{Kind: TargetSparsity, Value: 0.9}, TrainSet: tr, ValSet: val,
				Train: train.Config{Epochs: 2, LR: 0.02, Seed: 3, AfterStep: func() { steps++ }}})
			if err != nil {
				t.Fatal(err)
			}
			if steps == 0 || len(res.History) == 0 {
				t.Fatalf("no fine-tuning happened (%d steps)", steps)
			}
			if math.Abs(res.Sparsity-0.9) > 1e-3 {
				t.Errorf("sparsity %v, want 0.9", res.Sparsity)
			}
			changed := 0
			for p, keep := range res.Masks {
				w, w0 := res.Graph.Params[p].Data, base.Params[p].Data
				for i, k := range keep {
					if !k && w[i] != 0 {
						t.Fatalf("%s[%d] = %v after fine-tuning, want 0 (masked)", p, i, w[i])
					}
					if k && w[i] != w0[i] {
						changed++
					}
				}
			}
			if changed == 0 {
				t.Error("fine-tuning changed no kept weight")
			}
			for p, tns := range base.Params {
				if tns.Len() != res.Graph.Params[p].Len() {
					t.Fatalf("unstructured pruning changed the shape of %s", p)
				}
			}
		})
	}
}

func TestStructuredTargets(t *testing.T) {
	g := build(t, "lenet-300-100")
	base := totals(t, g)
	for _, tt := range []struct {
		name   string
		target Target
		check  func(pruned *graph.Graph) string
	}{
		{"params", Target{Kind: TargetParams, Value: 50000}, func(p *graph.Graph) string {
			if n := totals(t, p); n > 50000 || n < 40000 {
				return "params " + itoa(int(n)) + " not in [40000, 50000]"
			}
			return ""
		}},
		{"params relative", Target{Kind: TargetParams, Value: 0.5, Relative: true}, func(p *graph.Graph) string {
			if n := totals(t, p); float64(n) > 0.5*float64(base) {
				return "params " + itoa(int(n)) + " above half"
			}
			return ""
		}},
		{"macs", Target{Kind: TargetMACs, Value: 0.25, Relative: true}, func(p *graph.Graph) string {
			if m, m0 := macsOf(t, p), macsOf(t, g); float64(m) > 0.25*float64(m0) {
				return "MACs above a quarter"
			}
			return ""
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Prune(context.Background(), g, Config{Method: Structured, Target: tt.target, Multiple: 8})
			if err != nil {
				t.Fatal(err)
			}
			if msg := tt.check(res.Graph); msg != "" {
				t.Error(msg)
			}
		})
	}
	// With curves, the planner keeps more of the sensitive group.
	curves := []plan.Curve{
		{Layer: "fc1", Ratios: []float64{0.5, 0.9}, Drops: []float64{0.1, 0.3}},
		{Layer: "fc2", Ratios: []float64{0.5, 0.9}, Drops: []float64{5, 20}},
	}
	res, err := Prune(context.Background(), g, Config{Method: Structured, Target: Target{Kind: TargetMACs, Value: 0.5, Relative: true}, Curves: curves, Multiple: 4})
	if err != nil {
		t.Fatal(err)
	}
	if k1, k2 := float64(res.Kept["fc1"])/300, float64(res.Kept["fc2"])/100; k2 <= k1 {
		t.Errorf("planned keep fc1 %.2f fc2 %.2f; want the sensitive fc2 to keep more", k1, k2)
	}
}

func TestHybridRespectsBounds(t *testing.T) {
	g := build(t, "lenet-300-100")
	curves := []plan.Curve{
		{Layer: "fc1.weight", Ratios: []float64{0.5, 0.9}, Drops: []float64{0, 0.1}},
		{Layer: "fc2.weight", Ratios: []float64{0.5, 0.9}, Drops: []float64{0.2, 3}},
		{Layer: "fc3.weight", Ratios: []float64{0.5, 0.9}, Drops: []float64{2, 9}},
	}
	res, err := Prune(context.Background(), g, Config{Method: UnstructuredHybrid, Target: Target{Kind: TargetSparsity, Value: 0.9}, Curves: curves, Tolerance: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Masks.LayerSparsity("fc3.weight"); s != 0 {
		t.Errorf("fc3 (drop 2pp at 0.5) sparsity %v, want 0 (its cap)", s)
	}
	if s := res.Masks.LayerSparsity("fc2.weight"); s > 0.5+1e-9 {
		t.Errorf("fc2 sparsity %v, want ≤ 0.5 (its cap)", s)
	}
	if math.Abs(res.Sparsity-0.9) > 1e-4 {
		t.Errorf("total sparsity %v, want 0.9", res.Sparsity)
	}
	// fc1's floor (0.9, nearly free) alone exceeds a 0.3 target: floors scale down.
	res, err = Prune(context.Background(), g, Config{Method: UnstructuredHybrid, Target: Target{Kind: TargetSparsity, Value: 0.3}, Curves: curves, Tolerance: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Sparsity-0.3) > 1e-4 {
		t.Errorf("total sparsity %v, want 0.3", res.Sparsity)
	}
}

func TestBadTargets(t *testing.T) {
	for _, s := range []string{"sparsity=1", "sparsity=1.5", "sparsity=-0.1", "sparsity=0.5x", "params=-5", "params=0",
		"macs=0x", "macs=1.5x", "macs=12.5", "flops=3", "sparsity", "sparsity=abc", "sparsity=NaN"} {
		if _, err := ParseTarget(s); err == nil {
			t.Errorf("ParseTarget(%q): got no error", s)
		}
	}
	for _, s := range []string{"sparsity=0.95", "params=22000", "macs=0.25x", "macs=150000", "params=0.1x"} {
		if _, err := ParseTarget(s); err != nil {
			t.Errorf("ParseTarget(%q): %v", s, err)
		}
	}
	g := build(t, "lenet-300-100")
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"unstructured params below smallest", Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetParams, Value: 100}}, "below the smallest valid model"},
		{"unstructured macs below smallest", Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetMACs, Value: 10}}, "below the smallest valid model"},
		{"structured params below smallest", Config{Method: Structured, Target: Target{Kind: TargetParams, Value: 500}}, "below the smallest valid model"},
		{"structured macs below smallest", Config{Method: Structured, Target: Target{Kind: TargetMACs, Value: 0.001, Relative: true}, Multiple: 8}, "below the smallest valid model"},
		{"sparsity one", Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetSparsity, Value: 1}}, "[0, 1)"},
		{"negative sparsity", Config{Method: Structured, Target: Target{Kind: TargetSparsity, Value: -0.2}}, "[0, 1)"},
		{"plan unknown layer", Config{Method: Structured, Target: Target{Kind: TargetPlan}, Plan: &PlanFile{Keep: map[string]float64{"conv9": 0.5}}}, `"conv9"`},
		{"plan for unstructured-global", Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetPlan}, Plan: &PlanFile{Keep: map[string]float64{"fc1.weight": 0.5}}}, "structured or unstructured-layer"},
		{"plan without a file", Config{Method: UnstructuredLayer, Target: Target{Kind: TargetPlan}}, "without a plan file"},
		{"unstructured plan names a group", Config{Method: UnstructuredLayer, Target: Target{Kind: TargetPlan}, Plan: &PlanFile{Keep: map[string]float64{"fc1": 0.5}}}, `weight "fc1", which is not a prunable weight of this model (weights: [fc1.weight fc2.weight fc3.weight])`},
		{"unstructured plan keeps nothing", Config{Method: UnstructuredLayer, Target: Target{Kind: TargetPlan}, Plan: &PlanFile{Keep: map[string]float64{"fc1.weight": 0.0001}}}, "below the smallest valid model"},
		{"hybrid caps below the target", Config{Method: UnstructuredHybrid, Target: Target{Kind: TargetSparsity, Value: 0.9}, Tolerance: 0.5,
			Curves: []plan.Curve{{Layer: "fc1.weight", Ratios: []float64{0.5, 0.9}, Drops: []float64{3, 9}}}}, "caps allow at most"},
		{"hybrid without curves", Config{Method: UnstructuredHybrid, Target: Target{Kind: TargetSparsity, Value: 0.5}}, "sensitivity"},
		{"curve for unknown layer", Config{Method: Structured, Target: Target{Kind: TargetMACs, Value: 0.5, Relative: true},
			Curves: []plan.Curve{{Layer: "nope", Ratios: []float64{0.5}, Drops: []float64{1}}}}, `"nope"`},
		{"unknown method", Config{Method: "random", Target: Target{Kind: TargetSparsity, Value: 0.5}}, "unknown method"},
		{"fine-tune without data", Config{Method: UnstructuredGlobal, Target: Target{Kind: TargetSparsity, Value: 0.5}, Train: train.Config{Epochs: 1}}, "training set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prune(ctx, g, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParsePlan(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"yaml", "keep:\n  fc1: 0.5\n  fc2: 0.25\n", true},
		{"json", `{"keep": {"fc1": 0.5}}`, true},
		{"ratio zero", "keep: {fc1: 0}", false},
		{"ratio above one", "keep: {fc1: 1.2}", false},
		{"empty", "keep: {}", false},
		{"unknown field", "keeps: {fc1: 0.5}", false},
		{"not a number", "keep: {fc1: half}", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan([]byte(tt.in))
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, %v; want ok=%v", p, err, tt.ok)
			}
		})
	}
	d := mustBuild(t, build(t, "lenet-300-100"))
	p, _ := ParsePlan([]byte("keep: {fc1: 0.5, fc3: 0.5}"))
	if err := p.CheckPlan(d); err == nil || !strings.Contains(err.Error(), `"fc3"`) {
		t.Fatalf("plan naming the output layer: got %v, want an error naming fc3", err)
	}
}

func FuzzParsePlan(f *testing.F) {
	f.Add([]byte("keep:\n  fc1: 0.5\n"))
	f.Add([]byte(`{"keep": {"a": 1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePlan(b)
		if err != nil {
			return
		}
		for name, r := range p.Keep {
			if !(r > 0 && r <= 1) {
				t.Fatalf("accepted ratio %v for %q", r, name)
			}
		}
	})
}

func TestSchedules(t *testing.T) {
	if got := CubicSparsity(0, 0.9, 0, 0, 10, 5); got != 0 {
		t.Errorf("cubic at t0: got %v, want 0", got)
	}
	if got := CubicSparsity(0, 0.9, 50, 0, 10, 5); got != 0.9 {
		t.Errorf("cubic at end: got %v, want 0.9", got)
	}
	// Halfway: s_f + (s_i - s_f)(1/2)^3 = 0.9 - 0.9/8.
	if got, want := CubicSparsity(0, 0.9, 25, 0, 10, 5), 0.9-0.9/8; math.Abs(got-want) > 1e-12 {
		t.Errorf("cubic halfway: got %v, want %v", got, want)
	}
	lv := Levels(ScheduleIterative, 0.99, 2)
	if math.Abs(lv[0]-0.9) > 1e-9 || lv[1] != 0.99 {
		t.Errorf("iterative levels: got %v, want [0.9 0.99]", lv)
	}
	if lv := Levels(ScheduleOneShot, 0.8, 5); len(lv) != 1 || lv[0] != 0.8 {
		t.Errorf("one-shot levels: got %v", lv)
	}
	if _, err := ParseSchedule("linear"); err == nil {
		t.Error("ParseSchedule(linear): got no error")
	}
}

func TestTaylorCriterion(t *testing.T) {
	tr, _ := mnistSubsets(t, 256, 10)
	g := build(t, "lenet-300-100")
	d := mustBuild(t, g)
	acc, err := accumulateTaylor(context.Background(), d, Config{TrainSet: tr, TaylorBatches: 2, Train: train.Config{BatchSize: 64}})
	if err != nil {
		t.Fatal(err)
	}
	if acc.Batches() != 2 {
		t.Fatalf("accumulated %d batches, want 2", acc.Batches())
	}
	for _, gr := range d.Groups {
		sc := acc.Scores(gr.Name)
		nonzero := 0
		for _, v := range sc {
			if v < 0 || math.IsNaN(v) {
				t.Fatalf("group %s: score %v", gr.Name, v)
			}
			if v > 0 {
				nonzero++
			}
		}
		if nonzero < gr.Size()/2 {
			t.Errorf("group %s: only %d of %d units have a Taylor score", gr.Name, nonzero, gr.Size())
		}
	}
	res, err := Prune(context.Background(), g, Config{Method: Structured, Criterion: CriterionTaylor, TrainSet: tr, TaylorBatches: 2,
		Target: Target{Kind: TargetSparsity, Value: 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept["fc1"] != 150 || res.Kept["fc2"] != 50 {
		t.Errorf("kept %v, want fc1 150 and fc2 50", res.Kept)
	}
}

// A plan gives unstructured-layer pruning one keep ratio per weight (Han et al.'s
// 8%, 9%, 26% for LeNet-300-100); weights it does not name stay dense, and an
// iterative schedule ends exactly there.
func TestUnstructuredLayerPlan(t *testing.T) {
	base := build(t, "lenet-300-100")
	keep := map[string]float64{"fc1.weight": 0.08, "fc2.weight": 0.09}
	for _, sched := range []ScheduleKind{ScheduleOneShot, ScheduleIterative} {
		res, err := Prune(context.Background(), base, Config{Method: UnstructuredLayer, Schedule: sched, Stages: 3,
			Target: Target{Kind: TargetPlan}, Plan: &PlanFile{Keep: keep}})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range WeightLayers(base) {
			want := 0.0
			if k, ok := keep[l.Param]; ok {
				want = 1 - k
			}
			zeros := 0
			for _, w := range res.Graph.Params[l.Param].Data {
				if w == 0 {
					zeros++
				}
			}
			if got := float64(zeros) / float64(l.Size); math.Abs(got-want) > 1e-3 {
				t.Errorf("%s: %s sparsity %.4f, want %.4f", sched, l.Param, got, want)
			}
		}
		want := (0.92*235200 + 0.91*30000) / (235200 + 30000 + 1000)
		if math.Abs(res.Sparsity-want) > 1e-3 {
			t.Errorf("%s: overall sparsity %.4f, want %.4f", sched, res.Sparsity, want)
		}
	}
}
