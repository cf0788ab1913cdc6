package train

import (
	"fmt"
	"math"

	"github.com/fleetprune/fleetprune/pruning/graph"
	"github.com/fleetprune/fleetprune/pruning/tensor"
)

// Defaults of knowledge distillation.
const (
	DefaultDistillWeight = 0.5
	DefaultTemperature   = 4
)

// distillLoss is the soft-target term of knowledge distillation (Hinton et al. 2015)
// for a batch of student and teacher logits (N, C): T²·KL(softmax(t/T) ‖ softmax(s/T)),
// averaged over the batch, and its gradient with respect to the student logits,
// T·(softmax(s/T) − softmax(t/T))/N. The T² keeps the gradient's scale independent of
// the temperature.
func distillLoss(student, teacher *tensor.Tensor, temp float32) (float32, *tensor.Tensor) {
	n, c := student.Shape[0], student.Shape[1]
	grad := tensor.New(n, c)
	ps, pt := make([]float64, c), make([]float64, c)
	var total float64
	t := float64(temp)
	for i := 0; i < n; i++ {
		softmaxT(student.Data[i*c:(i+1)*c], t, ps)
		softmaxT(teacher.Data[i*c:(i+1)*c], t, pt)
		g := grad.Data[i*c : (i+1)*c]
		for j := range g {
			if pt[j] > 0 {
				total += pt[j] * (math.Log(pt[j]) - math.Log(max(ps[j], 1e-300)))
			}
			g[j] = float32(t * (ps[j] - pt[j]) / float64(n))
		}
	}
	return float32(t * t * total / float64(n)), grad
}

// softmaxT writes softmax(z/t) into p.
func softmaxT(z []float32, t float64, p []float64) {
	m := z[0]
	for _, v := range z {
		m = max(m, v)
	}
	var sum float64
	for j, v := range z {
		p[j] = math.Exp(float64(v-m) / t)
		sum += p[j]
	}
	for j := range p {
		p[j] /= sum
	}
}

// mixGrad sets hard to (1−w)·hard + w·soft, in place.
func mixGrad(hard, soft *tensor.Tensor, w float32) {
	for i, s := range soft.Data {
		hard.Data[i] = (1-w)*hard.Data[i] + w*s
	}
}

// teacherFor compiles the distillation teacher for inference and checks that it
// takes the student's input and gives as many classes.
func teacherFor(cfg Config, student *graph.Graph) (*graph.Executor, string, string, error) {
	in, out, err := ioNames(cfg.Teacher)
	if err != nil {
		return nil, "", "", fmt.Errorf("train: teacher: %w", err)
	}
	ss, err := graph.InferShapes(student, 1)
	if err != nil {
		return nil, "", "", fmt.Errorf("train: %w", err)
	}
	ts, err := graph.InferShapes(cfg.Teacher, 1)
	if err != nil {
		return nil, "", "", fmt.Errorf("train: teacher: %w", err)
	}
	sIn, _, _ := ioNames(student)
	if a, b := fmt.Sprint(ss[sIn]), fmt.Sprint(ts[in]); a != b {
		return nil, "", "", fmt.Errorf("train: teacher %q takes input %s, the student %s", cfg.Teacher.Name, b, a)
	}
	if a, b := fmt.Sprint(ss[student.Outputs[0].Name]), fmt.Sprint(ts[out]); a != b {
		return nil, "", "", fmt.Errorf("train: teacher %q gives logits %s, the student %s", cfg.Teacher.Name, b, a)
	}
	ex, err := graph.Compile(cfg.Teacher, graph.WithThreads(cfg.Threads))
	if err != nil {
		return nil, "", "", fmt.Errorf("train: teacher: %w", err)
	}
	return ex, in, out, nil
}
