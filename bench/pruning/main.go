// Command pruning is the pruning benchmark of issue 3: it trains (and caches) base
// models, runs the pruning recipes on MNIST and Fashion-MNIST, and prints one table
// of accuracy, nonzero weights, MACs and side-by-side measured latency. Earlier
// attempts stay in the list with their numbers (Record) and run only when -recipe
// names them.
//
//	nice -n 10 go run ./bench/pruning -data mnist,fashion-mnist
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/pruning/data"
	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/models"
	"github.com/fleetprune/fleetprune/pruning/onnx"
	"github.com/fleetprune/fleetprune/pruning/prune"
	"github.com/fleetprune/fleetprune/pruning/train"
)

// baseRecipe is how a base model is trained before pruning.
type baseRecipe struct {
	Arch      string
	Epochs    int
	LR        float32
	WD        float32
	Optimizer train.OptimizerKind // default SGD
	// Samples limits the training samples (0: all): the conv nets train at tens of
	// samples per second on the shared 2-core machine.
	Samples int
}

var bases = map[string]baseRecipe{
	"lenet-300-100": {Arch: "lenet-300-100", Epochs: 10, LR: 0.05, WD: 1e-4},
	// Until 2026-11-27 LeNet-5's base was SGD, 2 epochs on 8000 samples (96-97%):
	// undertrained, so its pruning drops meant little. Adam for 6 epochs is the
	// pruning/metrics accuracy recipe (99.25%).
	"lenet-5": {Arch: "lenet-5", Epochs: 6, LR: 1e-3, WD: 1e-4, Optimizer: train.Adam},
	// ResNet-8's base was 2 epochs on 4000 samples while the machine was loaded (5
	// samples/s), then 3 epochs on 20000 (98.17%); 3 epochs on all 55000 now that it
	// trains at ~400 samples/s.
	"resnet-8": {Arch: "resnet-8", Epochs: 3, LR: 0.05, WD: 1e-4},
}

// resnet8n20000 is ResNet-8's earlier base (98.17%), kept for the recipes measured on it.
var resnet8n20000 = baseRecipe{Arch: "resnet-8", Epochs: 3, LR: 0.05, WD: 1e-4, Samples: 20000}

// recipe is one pruning run with the bar it must clear.
type recipe struct {
	Name   string
	Arch   string
	Cfg    prune.Config
	Epochs int
	LR     float32
	WD     float32 // fine-tuning weight decay
	// Optimizer of fine-tuning (default SGD).
	Optimizer train.OptimizerKind
	Sparse    bool // also time with the engine's sparse kernels
	MaxDrop   float64
	MinRatio  float64 // nonzero-weight ratio (unstructured) or MACs ratio (structured)
	// SparseSpeed, when set, is the bar for the batch-1 speedup of the sparse kernels
	// over the dense form of the same pruned model; accuracy is not its point.
	SparseSpeed float64
	// Samples limits the fine-tuning samples (0: all).
	Samples int
	// Sensitivity plans structured keep ratios from sensitivity curves measured on
	// SensSamples validation samples first.
	Sensitivity bool
	SensSamples int
	// Rewind fine-tunes with the base's own learning-rate schedule (its optimizer,
	// rate, weight decay, cosine to zero) over Epochs: learning-rate rewinding (Renda
	// et al. 2020) instead of a small fine-tuning rate. LR, WD are then ignored.
	Rewind bool
	// Distill, when above 0, fine-tunes with the dense base as teacher (knowledge
	// distillation) at this weight and temperature Temp (0: the train default).
	Distill float32
	Temp    float32
	// Base, when set, is the base this recipe prunes instead of bases[Arch].
	Base *baseRecipe
	// Record marks an earlier attempt kept with its numbers for the record: it runs
	// only when -recipe names it, so a default run repeats only the current recipes.
	Record bool
	// SpeedOnly prunes the freshly initialized model without training or evaluation:
	// it measures what the surgery buys in MACs and latency, not accuracy.
	SpeedOnly bool
}

// hanPlan keeps a little less than Han et al.'s 8%, 9%, 26% of LeNet-300-100's
// weights so the nonzero count (biases included) stays above 12x.
var hanPlan = &prune.PlanFile{Keep: map[string]float64{"fc1.weight": 0.08, "fc2.weight": 0.08, "fc3.weight": 0.25}}

// hanPlan5 is Han et al.'s LeNet-5 ratios (66%, 12%, 8%, 19%) with fc1 at 7.5% so the
// nonzero count, biases included, is 12.4x below the dense model's.
var hanPlan5 = &prune.PlanFile{Keep: map[string]float64{"conv1.weight": 0.66, "conv2.weight": 0.12, "fc1.weight": 0.075, "fc2.weight": 0.19}}

// measuredPlan8 is structured-kd-plan's channels for ResNet-8: stem 4 of 16,
// layer1 8 of 16, layer2 32 and 24 of 32, layer3 8 and 24 of 64 (4.08x fewer MACs).
var measuredPlan8 = &prune.PlanFile{Keep: map[string]float64{"stem.conv": 0.25, "layer1.conv1": 0.5, "layer2.conv1": 1,
	"layer2.conv2": 0.75, "layer3.conv1": 0.125, "layer3.conv2": 0.375}}

// hanPlan5x20 scales those ratios down to 20.2x fewer nonzero weights, the aim.
var hanPlan5x20 = &prune.PlanFile{Keep: map[string]float64{"conv1.weight": 0.5, "conv2.weight": 0.08, "fc1.weight": 0.045, "fc2.weight": 0.1}}

func recipes() []recipe {
	return []recipe{
		// Zhu & Gupta's cubic schedule to 95% fell 0.52 pp short on MNIST (see the
		// report); Han's iterative prune-retrain with a full cosine anneal per stage is
		// the recipe.
		{Name: "unstructured-95", Arch: "lenet-300-100", Record: true, Epochs: 9, LR: 0.01, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleIterative, Stages: 3,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.95}}},
		{Name: "unstructured-92", Arch: "lenet-300-100", Record: true, Epochs: 9, LR: 0.01, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleIterative, Stages: 3,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// At LR 0.01 with 9 epochs both lost 0.40 pp; Han et al. retrain at a tenth of
		// the training rate, and longer.
		{Name: "unstructured-92-slow", Arch: "lenet-300-100", Record: true, Epochs: 12, LR: 0.005, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleIterative, Stages: 3,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		{Name: "unstructured-92-oneshot", Arch: "lenet-300-100", Record: true, Epochs: 12, LR: 0.005, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// Those lost 0.37-0.43 pp; a control fine-tunes the unpruned model the same way,
		// and a last try keeps the base's weight decay at a lower rate.
		{Name: "control-dense", Arch: "lenet-300-100", Record: true, Epochs: 12, LR: 0.005, MaxDrop: 0.1,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0}}},
		{Name: "unstructured-92-wd", Arch: "lenet-300-100", Record: true, Epochs: 12, LR: 0.002, WD: 1e-4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// The control kept 98.29% (-0.03 pp), the weight-decay try 97.77% (-0.55 pp,
		// read back from its cached file): the loss is the pruning's, so the last
		// tries recover longer at a higher rate.
		{Name: "unstructured-92-long", Arch: "lenet-300-100", Record: true, Epochs: 24, LR: 0.02, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		{Name: "unstructured-92-cubic-long", Arch: "lenet-300-100", Record: true, Epochs: 24, LR: 0.01, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleCubic, Stages: 8,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// 24 epochs at 0.02 reached -0.25 pp, the best so far; longer still.
		{Name: "unstructured-92-longer", Arch: "lenet-300-100", Record: true, Epochs: 36, LR: 0.03, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// 36 epochs at 0.03: -0.19 pp.
		{Name: "unstructured-92-60", Arch: "lenet-300-100", Record: true, Epochs: 60, LR: 0.04, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// 60 epochs at 0.04: 98.11%, -0.21 pp (the cubic-long recipe: 97.95%, -0.37 pp;
		// both read back from their cached files). Learning-rate rewinding (Renda et al.
		// 2020): retrain with the base's own schedule (lr 0.05 cosine to 0, 10 epochs).
		{Name: "unstructured-92-rewind", Arch: "lenet-300-100", Record: true, Epochs: 10, Rewind: true, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// Rewinding lost 0.24 pp (98.32% → 98.08%). Distillation from the dense base
		// (weight 0.7, T 4) on top of rewinding: 98.24%, -0.08 pp at 12.28x, the bar met
		// (10:18 UTC, load 4.9).
		{Name: "unstructured-92-kd", Arch: "lenet-300-100", Epochs: 10, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// Global magnitude keeps fc1 5.6%, fc2 24.7%, fc3 68.9%; Han et al. keep 8%, 9%,
		// 26%: more of the input layer. Their per-layer ratios, with rewinding.
		{Name: "unstructured-han-rewind", Arch: "lenet-300-100", Record: true, Epochs: 10, Rewind: true, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan}},
		// With rewinding only: 98.16%, -0.16 pp at 12.19x. With distillation too:
		{Name: "unstructured-han-kd", Arch: "lenet-300-100", Record: true, Epochs: 10, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan}},
		// 98.20%, -0.12 pp: no better than the global threshold with distillation.
		// The unstructured-92-kd recipe with fine-tuning seeds 2, 3, 4: -0.08, -0.06,
		// -0.07 pp. The aim of 20x: 95.2% of the weights.
		{Name: "unstructured-952-kd", Arch: "lenet-300-100", Record: true, Epochs: 10, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 20, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.952}}},
		// 98.16%, -0.16 pp at 20.22x. Two stages (78%, then 95.2%), each retrained
		// with the rate rewound and the teacher:
		{Name: "unstructured-952-kd-iter", Arch: "lenet-300-100", Record: true, Epochs: 20, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 20, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleIterative, Stages: 2,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.952}}},
		// The cubic schedule (pruning while the rewound rate is high) met LeNet-5's bar;
		// the same for LeNet-300-100 at 20x:
		// 98.35%, +0.03 pp at 20.22x (11:18 UTC, load 4.6): the aim of 20x met.
		{Name: "unstructured-952-kd-cubic", Arch: "lenet-300-100", Epochs: 10, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 20, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleCubic, Stages: 8,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.952}}},
		// Issue 3's sparse-kernel bar (CSR at least 2x faster than the same model dense
		// at batch 1). Session 3 (fused batch-1 products, SELL-8 CSR), alternated with
		// the session-2 binary: MNIST 1.75x, 2.31x against 2.23x, 1.65x (13:19 UTC, load
		// 1.7-2.6); Fashion-MNIST 1.75x, 1.99x against 1.74x, 1.81x (13:25, load
		// 2.5-3.3): both forms got faster, the ratio did not move.
		{Name: "sparse90", Arch: "lenet-300-100", Epochs: 1, LR: 0.01, Sparse: true, SparseSpeed: 2, MaxDrop: 100,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.9}}},
		// Global cubic to 95% lost 4.36 pp: one threshold strips the small fc2 (the
		// output layer) along with fc1. Hybrid bounds from measured curves protect it.
		{Name: "unstructured-hybrid-92", Arch: "lenet-5", Record: true, Epochs: 2, Samples: 6000, LR: 0.01, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Sensitivity: true, SensSamples: 300,
			Cfg: prune.Config{Method: prune.UnstructuredHybrid, Schedule: prune.ScheduleCubic, Stages: 8, Tolerance: 0.5,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		{Name: "unstructured", Arch: "lenet-5", Record: true, Epochs: 2, Samples: 6000, LR: 0.005, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleCubic, Stages: 8,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.95}}},
		// The recipes above ran on the undertrained SGD base. On the Adam base: Han's
		// per-layer ratios, the base's schedule rewound, the dense base as teacher.
		{Name: "unstructured-han-kd", Arch: "lenet-5", Record: true, Epochs: 3, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		// 98.93%, -0.27 pp at 12.37x (mean loss 0.89 in the first rewound epoch, 0.11
		// in the last: Adam restarting at 1e-3 may shake the pruned weights). On this
		// base one global threshold at 92% keeps conv1 73%, conv2 14%, fc1 7.4%, fc2 17%
		// (no longer stripping fc2), fine-tuned at a third of the rate.
		{Name: "unstructured-92-kd", Arch: "lenet-5", Record: true, Epochs: 3, Optimizer: train.Adam, LR: 3e-4, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredGlobal, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetSparsity, Value: 0.92}}},
		// 98.82%, -0.38 pp at 12.31x. Han's ratios with the whole 6-epoch schedule
		// rewound, as Renda et al. retrain:
		{Name: "unstructured-han-kd-6", Arch: "lenet-5", Record: true, Epochs: 6, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		// 98.99%, -0.21 pp at 12.37x (10:59 UTC, load 5.5). SGD instead of a restarted
		// Adam, and the same ratios reached gradually (Zhu & Gupta's cubic schedule)
		// while the rewound rate is high:
		{Name: "unstructured-han-kd-sgd", Arch: "lenet-5", Record: true, Epochs: 6, LR: 0.005, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		// SGD at 0.005: 99.05%, -0.15 pp at 12.37x (11:10 UTC, load 3.2). Longer, and
		// with more weight on the teacher:
		{Name: "unstructured-han-kd-sgd-10", Arch: "lenet-5", Record: true, Epochs: 10, LR: 0.005, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		{Name: "unstructured-han-kd9-sgd", Arch: "lenet-5", Record: true, Epochs: 6, LR: 0.005, Distill: 0.9, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleOneShot,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		// The cubic recipe met the bar: 99.14%, -0.06 pp at 12.37x (11:16 UTC, load
		// 3.0); with fine-tuning seed 3, 99.18%, -0.02 pp. sgd-10 and kd9 were stopped
		// for it, unfinished.
		{Name: "unstructured-han-kd-cubic", Arch: "lenet-5", Epochs: 6, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 12, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleCubic, Stages: 8,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5}},
		// 99.10%, -0.10 pp (10 test images) at 20.21x (11:39 UTC, load 2.6); printed
		// as failing then because 99.20 - 99.10 > 0.1 in float64, now compared with a
		// tolerance.
		{Name: "unstructured-han20-kd-cubic", Arch: "lenet-5", Epochs: 6, Rewind: true, Distill: 0.7, Temp: 4, MaxDrop: 0.1, MinRatio: 20, Sparse: true,
			Cfg: prune.Config{Method: prune.UnstructuredLayer, Schedule: prune.ScheduleCubic, Stages: 8,
				Target: prune.Target{Kind: prune.TargetPlan}, Plan: hanPlan5x20}},
		// At macs=0.24x with 6 epochs this lost 0.51 pp (fc1 72, fc2 56 kept). At
		// 12:01 UTC (load 1.9) with the AVX2 dense kernel: -0.49 pp at 4.36x MACs but a
		// batch-1 speedup of 3.01x, under 0.7 x 4.36 = 3.05x (it was 9.01x against the
		// slower dense path): the pruned model's 11 µs is mostly per-run overhead.
		// With session 3's fused batch-1 fully connected path, alternated with the
		// session-2 binary (13:15-13:17 UTC, load 1.6-2.0): 3.90x, 4.00x, 3.88x against
		// 3.47x, 3.31x; same accuracy.
		{Name: "structured", Arch: "lenet-300-100", Epochs: 8, LR: 0.01, MaxDrop: 0.5, MinRatio: 4, Sensitivity: true, SensSamples: 2000,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionL2,
				Multiple: 8, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.25, Relative: true}}},
		// Training resnet-8 ran at 5 samples/s on the loaded machine (13 min per 4000
		// samples), so its accuracy recipe below could not finish; this one measures the
		// speed side of the bar.
		{Name: "structured-speed", Arch: "resnet-8", Record: true, MinRatio: 4, SpeedOnly: true,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleOneShot, Criterion: prune.CriterionL1,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.25, Relative: true}}},
		{Name: "structured", Arch: "resnet-8", Record: true, Epochs: 1, Samples: 4000, LR: 0.01, MaxDrop: 0.5, MinRatio: 4, Sensitivity: true, SensSamples: 300,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionBN,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.24, Relative: true}}},
		// On the 3-epoch, 20000-sample base: three prune stages, each retrained one
		// epoch with the base's rate rewound and the dense base as teacher. 97.74%,
		// -0.43 pp at 4.28x MACs; batch-1 speedup 2.88x, short of 0.7 x 4.28 = 3.00x
		// (10:48 UTC, load 6.9). Rerun at 11:36 (load 2.6, newer executor): 97.75%,
		// -0.42 pp, 4.28x, batch-1 speedup 3.09x: passed, by a margin smaller than the
		// run-to-run spread of the speed ratio.
		{Name: "structured-kd", Arch: "resnet-8", Record: true, Base: &resnet8n20000, Epochs: 3, Samples: 20000, Rewind: true, Distill: 0.5, Temp: 4, MaxDrop: 0.5, MinRatio: 4,
			Sensitivity: true, SensSamples: 500,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionBN,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.24, Relative: true}}},
		// On the base trained on all 55000 samples (99.11%), the same recipe lost
		// 0.99 pp (98.12% at 4.36x MACs, batch-1 2.99x; 11:49 UTC, load 2.9). Six
		// epochs on all samples, two per stage: 98.72%, -0.39 pp at 4.36x MACs, batch-1
		// speedup 3.12x >= 3.05x: the bar met (12:01 UTC, load 2.4). Fashion-MNIST
		// (base 90.64%): 90.63%, -0.01 pp at 4.19x MACs, batch-1 3.13x (12:18 UTC).
		{Name: "structured-kd-full", Arch: "resnet-8", Epochs: 6, Rewind: true, Distill: 0.5, Temp: 4, MaxDrop: 0.5, MinRatio: 4,
			Sensitivity: true, SensSamples: 500,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionBN,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.24, Relative: true}}},
		// structured-kd-full planned by timing candidates on this machine instead of by
		// the MACs cost model (prune.LatencySearch, NetAdapt-style): the same target,
		// curves and fine-tuning. MNIST (19:31-19:39 UTC, session 6): stem 4, layer1 12,
		// layer2 28/24, layer3 4/24; 98.73%, -0.38 pp at 4.18x MACs, batch-1 3.34x >=
		// 2.92x (then 3.21, 3.46, 3.24x with -reuse). Fashion-MNIST: 89.73%, -0.91 pp at
		// 4.24x, 2.93x against 2.96x. The search run again on MNIST (seed 3, 20:05)
		// chose 4, 12, 24/20, 24/24: 98.99%, -0.12 pp at 4.17x, 2.86x (then 3.29, 2.92,
		// 3.00x) against 2.92x: noise decides between close cuts. With near ties timed
		// again (380b89e, 20:21-20:28): 4, 4, 24/24, 28/24; 98.85%, -0.26 pp at 4.47x,
		// 3.40x (then 3.41, 3.39, 2.99, 3.68x) against 3.13x.
		{Name: "structured-kd-search", Arch: "resnet-8", Epochs: 6, Rewind: true, Distill: 0.5, Temp: 4, MaxDrop: 0.5, MinRatio: 4,
			Sensitivity: true, SensSamples: 500,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionBN,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetMACs, Value: 0.24, Relative: true}, Search: &prune.LatencySearch{}}},
		// structured-kd-full with the channels given by a plan file instead of the
		// sensitivity planner: chosen by measuring untrained candidates of at least
		// 4x fewer MACs against the base on this machine, alternated in one process
		// (bench/README, session 6). The planner's channels (stem 4, layer1 12,
		// layer2 24/24, layer3 8/28) spend MACs in the 28x28 and 7x7 layers, which run
		// least efficiently here; these keep layer2's first convolution whole (its
		// Winograd GEMMs run best) and take them from layer1 and layer3's output.
		// MNIST: 98.91% (-0.20 pp; seed 3 98.81%, -0.30) at 4.08x MACs, batch-1
		// 3.46x (seed 3 3.30x) >= 2.85x. Fashion-MNIST: 89.37%, -1.27 pp, 2.97x.
		{Name: "structured-kd-plan", Arch: "resnet-8", Epochs: 6, Rewind: true, Distill: 0.5, Temp: 4, MaxDrop: 0.5, MinRatio: 4,
			Cfg: prune.Config{Method: prune.Structured, Schedule: prune.ScheduleIterative, Stages: 3, Criterion: prune.CriterionBN,
				Multiple: 4, Target: prune.Target{Kind: prune.TargetPlan}, Plan: measuredPlan8}},
	}
}

func main() {
	var (
		cache     = flag.String("cache", ".fleetprune/bench", "where trained base models are cached (git-ignored)")
		datasets  = flag.String("data", "mnist", "comma-separated datasets: mnist, fashion-mnist")
		only      = flag.String("only", "", "comma-separated arch names to run (default all)")
		names     = flag.String("recipe", "", "comma-separated recipe names to run (default: all but the earlier attempts kept for the record)")
		trainOnly = flag.Bool("train-only", false, "only train and cache the base models")
		threads   = flag.Int("threads", 0, "engine threads (0: all cores)")
		seed      = flag.Uint64("seed", 2, "fine-tuning seed (shuffling): rerun a recipe with others to see the spread")
		cands     = flag.String("candidates", "", "instead of the recipes, time untrained structured plans against the base of each -recipe named (speed only): plans separated by ';', each group=channels,... (see candidates.go)")
		rounds    = flag.Int("rounds", 5, "with -candidates, how many times to compile and time them all")
		reuse     = flag.Bool("reuse", false, "measure the variant an earlier run of each recipe left in -cache against its base, instead of pruning and fine-tuning again (a recipe without one is pruned)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := os.MkdirAll(*cache, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	want := map[string]bool{}
	for _, a := range strings.Split(*only, ",") {
		if a != "" {
			want[a] = true
		}
	}
	var candidates []candidate
	if *cands != "" {
		var err error
		if candidates, err = parseCandidates(*cands); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
	wantRecipe := map[string]bool{}
	for _, n := range strings.Split(*names, ",") {
		if n != "" {
			wantRecipe[n] = true
		}
	}
	var rows []row
	for _, ds := range strings.Split(*datasets, ",") {
		sets, err := loadSets(ds)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		for _, r := range recipes() {
			if len(want) > 0 && !want[r.Arch] || len(wantRecipe) > 0 && !wantRecipe[r.Name] || len(wantRecipe) == 0 && r.Record {
				continue
			}
			var base *graph.Graph
			var err error
			if r.SpeedOnly {
				base, err = models.Build(r.Arch, 1)
			} else {
				base, err = baseModel(ctx, log, *cache, ds, r.base(), sets, *threads)
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				os.Exit(1)
			}
			if *trainOnly {
				continue
			}
			if candidates != nil {
				fmt.Printf("%s %s on %s: untrained candidates against the base, batch 1\n", r.Name, r.Arch, ds)
				if err := measureCandidates(ctx, os.Stdout, base, candidates, *threads, *rounds); err != nil {
					fmt.Fprintln(os.Stderr, "bench:", err)
					os.Exit(1)
				}
				continue
			}
			rw, err := runRecipe(ctx, log, ds, r, base, sets, *threads, *cache, *seed, *reuse)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s %s on %s: %v\n", r.Name, r.Arch, ds, err)
				continue
			}
			rows = append(rows, rw)
			printRows(rows)
		}
	}
}

type sets struct{ train, val, test *data.Dataset }

func loadSets(name string) (*sets, error) {
	tr, err := data.Load(name, "train")
	if err != nil {
		return nil, err
	}
	test, err := data.Load(name, "test")
	if err != nil {
		return nil, err
	}
	trn, val, err := tr.Split(1.0/12, 1)
	if err != nil {
		return nil, err
	}
	return &sets{train: trn, val: val, test: test}, nil
}

// baseModel loads the cached base model or trains and caches it.
func baseModel(ctx context.Context, log *slog.Logger, cache, ds string, b baseRecipe, s *sets, threads int) (*graph.Graph, error) {
	path := filepath.Join(cache, baseName(ds, b)+".onnx")
	if g, err := onnx.ReadFile(path); err == nil {
		return g, nil
	}
	g, err := models.Build(b.Arch, 1)
	if err != nil {
		return nil, err
	}
	log.Info("bench: training base", "arch", b.Arch, "data", ds, "epochs", b.Epochs)
	start := time.Now()
	_, err = train.Fit(ctx, g, head(s.train, b.Samples), s.val, train.Config{Epochs: b.Epochs, LR: b.LR, WeightDecay: b.WD, Optimizer: b.Optimizer,
		Schedule: train.Cosine, Seed: 1, Threads: threads,
		Progress: func(p train.Progress) {
			if p.Step%200 == 0 || p.Step == p.Steps {
				log.Info("bench: base", "arch", b.Arch, "epoch", p.Epoch, "step", p.Step, "of", p.Steps, "loss", p.Loss, "samples/s", int(p.SamplesPerSec))
			}
		}})
	if err != nil {
		return nil, err
	}
	acc, _, _, err := train.Evaluate(ctx, g, s.test)
	if err != nil {
		return nil, err
	}
	log.Info("bench: base trained", "arch", b.Arch, "data", ds, "test accuracy", 100*acc, "took", time.Since(start).Round(time.Second))
	return g, onnx.WriteFile(path, g)
}

// base is the base recipe r prunes.
func (r recipe) base() baseRecipe {
	if r.Base != nil {
		return *r.Base
	}
	return bases[r.Arch]
}

// baseName names a base model's cache file; SGD bases keep the names they had before
// the optimizer was a choice.
func baseName(ds string, b baseRecipe) string {
	n := fmt.Sprintf("%s-%s-e%d-n%d", b.Arch, ds, b.Epochs, b.Samples)
	if b.Optimizer != "" && b.Optimizer != train.SGD {
		n += "-" + string(b.Optimizer)
	}
	return n
}

// String describes how the base was trained, for the table.
func (b baseRecipe) String() string {
	o := b.Optimizer
	if o == "" {
		o = train.SGD
	}
	s := fmt.Sprintf("%s %dep lr %g cos", o, b.Epochs, b.LR)
	if b.Samples > 0 {
		s += fmt.Sprintf(" n=%d", b.Samples)
	}
	return s
}

// head returns the first n samples of d (d itself when n is 0 or covers it); the
// training split is already shuffled.
func head(d *data.Dataset, n int) *data.Dataset {
	if n <= 0 || n >= d.Len() {
		return d
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return d.Subset(d.Name, idx)
}
