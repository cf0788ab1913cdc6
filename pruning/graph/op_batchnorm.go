package graph

import (
	"math"

	"github.com/fleetprune/fleetprune/pruning/tensor"
)

func init() { register("BatchNormalization", newBatchNorm) }

// batchNormOp normalizes per channel (dimension 1). In inference it uses the running
// statistics; in training it uses the batch's and updates the running ones as
// running = momentum·running + (1-momentum)·batch, with the unbiased batch variance as
// PyTorch does.
type batchNormOp struct {
	eps, momentum float32
	n, c, hw      int
	mean, invStd  []float32 // batch statistics of the latest training forward
	training      bool      // the latest forward was in training mode
	// reluOut, when set, is the output of the Relu that reads this node alone (in a
	// training executor): the forward writes max(y, 0) there instead of y.
	reluOut *tensor.Tensor
}

func newBatchNorm(n *Node, _ *opCtx) (op, error) {
	if err := wantInputs(n, 5, 5); err != nil {
		return nil, err
	}
	o := &batchNormOp{eps: n.AttrFloat("epsilon", 1e-5), momentum: n.AttrFloat("momentum", 0.9)}
	if o.eps < 0 || o.momentum < 0 || o.momentum > 1 {
		return nil, errorf("epsilon %v or momentum %v out of range", o.eps, o.momentum)
	}
	return o, nil
}

func (o *batchNormOp) infer(in [][]int) ([][]int, error) {
	x := in[0]
	if len(x) < 2 {
		return nil, errorf("input %v must be at least (N, C)", x)
	}
	o.n, o.c, o.hw = x[0], x[1], tensor.Size(x[2:])
	for i := 1; i < 5; i++ {
		if len(in[i]) != 1 || in[i][0] != o.c {
			return nil, errorf("input %d has shape %v, want [%d]", i, in[i], o.c)
		}
	}
	o.mean, o.invStd = make([]float32, o.c), make([]float32, o.c)
	c := []int{o.c}
	return [][]int{append([]int(nil), x...), c, c, c, c}, nil
}

func (o *batchNormOp) forward(r *runState, in, out []*tensor.Tensor) {
	x, scale, bias, rmean, rvar := in[0].Data, in[1].Data, in[2].Data, in[3].Data, in[4].Data
	y := out[0].Data
	relu := o.reluOut != nil
	if relu {
		y = o.reluOut.Data
	}
	o.training = r.training
	chw := o.c * o.hw
	work := func(ch int) {
		var mean, inv float32
		if r.training {
			var s, ss float64
			for s0 := 0; s0 < o.n; s0++ {
				s += sum64(x[s0*chw+ch*o.hw:][:o.hw])
			}
			cnt := float64(o.n * o.hw)
			m := s / cnt
			for s0 := 0; s0 < o.n; s0++ {
				ss += sumSqDev64(x[s0*chw+ch*o.hw:][:o.hw], m)
			}
			v := ss / cnt
			mean, inv = float32(m), float32(1/math.Sqrt(v+float64(o.eps)))
			o.mean[ch], o.invStd[ch] = mean, inv
			unbiased := v
			if cnt > 1 {
				unbiased = ss / (cnt - 1)
			}
			rmean[ch] = o.momentum*rmean[ch] + (1-o.momentum)*mean
			rvar[ch] = o.momentum*rvar[ch] + (1-o.momentum)*float32(unbiased)
		} else {
			mean, inv = rmean[ch], float32(1/math.Sqrt(float64(rvar[ch])+float64(o.eps)))
		}
		a := scale[ch] * inv
		b := bias[ch] - mean*a
		for s0 := 0; s0 < o.n; s0++ {
			off := s0*chw + ch*o.hw
			src, dst := x[off:off+o.hw], y[off:off+o.hw]
			if relu {
				for i, v := range src {
					dst[i] = max(v*a+b, 0)
				}
				continue
			}
			for i, v := range src {
				dst[i] = v*a + b
			}
		}
	}
	if o.n*chw < 1<<15 {
		for ch := 0; ch < o.c; ch++ {
			work(ch)
		}
	} else {
		parallelFor(r.threads, o.c, work)
	}
	for i := 1; i < len(out) && i < 3; i++ {
		if out[i] != nil {
			copy(out[i].Data, in[i+2].Data)
		}
	}
	if len(out) > 3 {
		copy(out[3].Data, o.mean)
	}
	if len(out) > 4 {
		copy(out[4].Data, o.invStd)
	}
}

func (o *batchNormOp) overwrites(i int) bool { return i == 0 }

func (o *batchNormOp) backward(r *runState, in, _, gOut, gIn []*tensor.Tensor) {
	x, scale, gy := in[0].Data, in[1].Data, gOut[0].Data
	chw := o.c * o.hw
	cnt := float32(o.n * o.hw)
	overwrite := r.overwrites(0)
	work := func(ch int) {
		mean, inv := o.mean[ch], o.invStd[ch]
		if !o.training {
			mean, inv = in[3].Data[ch], float32(1/math.Sqrt(float64(in[4].Data[ch])+float64(o.eps)))
		}
		var sumDy, sumDyX float64
		for s0 := 0; s0 < o.n; s0++ {
			off := s0*chw + ch*o.hw
			a, b := sumDyDyX(gy[off:off+o.hw], x[off:], mean, inv)
			sumDy += a
			sumDyX += b
		}
		if gIn[1] != nil {
			gIn[1].Data[ch] += float32(sumDyX)
		}
		if gIn[2] != nil {
			gIn[2].Data[ch] += float32(sumDy)
		}
		if gIn[0] == nil {
			return
		}
		gx := gIn[0].Data
		k := scale[ch] * inv
		if !o.training {
			for s0 := 0; s0 < o.n; s0++ {
				off := s0*chw + ch*o.hw
				for i, g := range gy[off : off+o.hw] {
					if overwrite {
						gx[off+i] = k * g
					} else {
						gx[off+i] += k * g
					}
				}
			}
			return
		}
		// k·(g - mean(g) - x̂·mean(g·x̂)) with x̂ = (x-mean)·inv, expanded to a·g + b·x + c
		// per channel: two multiply-adds per element instead of five operations.
		mDy, mDyX := float32(sumDy)/cnt, float32(sumDyX)/cnt
		a, b := k, -k*inv*mDyX
		c := k * (mean*inv*mDyX - mDy)
		for s0 := 0; s0 < o.n; s0++ {
			off := s0*chw + ch*o.hw
			g := gy[off : off+o.hw]
			xs, d := x[off : off+o.hw][:len(g)], gx[off : off+o.hw][:len(g)]
			if overwrite {
				for i, v := range g {
					d[i] = a*v + b*xs[i] + c
				}
				continue
			}
			for i, v := range g {
				d[i] += a*v + b*xs[i] + c
			}
		}
	}
	if o.n*chw < 1<<15 {
		for ch := 0; ch < o.c; ch++ {
			work(ch)
		}
	} else {
		parallelFor(r.threads, o.c, work)
	}
}
