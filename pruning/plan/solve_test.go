package plan

import (
	"errors"
	"math"
	"testing"
)

var ratios = []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9}

func curve(layer string, ch int, slope float64) Curve {
	c := Curve{Layer: layer, Channels: ch, Ratios: ratios}
	for _, r := range ratios {
		c.Drops = append(c.Drops, slope*r*r)
	}
	return c
}

// chain is conv a → conv b → output: a's MACs scale with a, b's with a and b.
func chain(baseA, baseB float64) []Term {
	return []Term{
		{Node: "a", Base: baseA, In: []Share{{"", 1}}, Out: []Share{{"a", 1}}},
		{Node: "b", Base: baseB, In: []Share{{"a", 1}}, Out: []Share{{"b", 1}}},
		{Node: "fc", Base: 10, In: []Share{{"b", 1}}, Out: []Share{{"", 1}}},
	}
}

func TestSolve(t *testing.T) {
	tests := []struct {
		name    string
		p       Problem
		wantErr error
		check   func(t *testing.T, pl *Plan)
	}{
		{
			name: "budget above cost keeps everything",
			p:    Problem{Curves: []Curve{curve("a", 32, 10), curve("b", 64, 10)}, Costs: chain(1000, 4000), Budget: 1e9, Multiple: 8},
			check: func(t *testing.T, pl *Plan) {
				if pl.Keep["a"] != 1 || pl.Keep["b"] != 1 || pl.PredictedDrop != 0 {
					t.Errorf("got keep %v drop %v, want all 1 and 0", pl.Keep, pl.PredictedDrop)
				}
			},
		},
		{
			name: "sensitive layer keeps more",
			p: Problem{Curves: []Curve{curve("a", 64, 100), curve("b", 64, 1)},
				Costs:  []Term{{Node: "a", Base: 1000, Out: []Share{{"a", 1}}}, {Node: "b", Base: 1000, Out: []Share{{"b", 1}}}},
				Budget: 1200, Multiple: 4},
			check: func(t *testing.T, pl *Plan) {
				if pl.Keep["a"] <= pl.Keep["b"] {
					t.Errorf("got keep a=%v b=%v, want a (sensitive) > b", pl.Keep["a"], pl.Keep["b"])
				}
				if pl.Cost > 1200 {
					t.Errorf("got cost %v, want ≤ 1200", pl.Cost)
				}
			},
		},
		{
			name: "counts are multiples",
			p:    Problem{Curves: []Curve{curve("a", 30, 5), curve("b", 100, 5)}, Costs: chain(3000, 10000), Budget: 4000, Multiple: 8},
			check: func(t *testing.T, pl *Plan) {
				for l, c := range pl.Channels {
					orig := map[string]int{"a": 30, "b": 100}[l]
					if c != orig && c%8 != 0 {
						t.Errorf("layer %s keeps %d channels, want a multiple of 8", l, c)
					}
				}
				if pl.Cost > 4000 {
					t.Errorf("got cost %v, want ≤ 4000", pl.Cost)
				}
			},
		},
		{
			name: "cost matches the bilinear model",
			p:    Problem{Curves: []Curve{curve("a", 16, 1), curve("b", 16, 1)}, Costs: chain(100, 1000), Budget: 500, Multiple: 4},
			check: func(t *testing.T, pl *Plan) {
				ka, kb := pl.Keep["a"], pl.Keep["b"]
				want := 100*ka + 1000*ka*kb + 10*kb
				if math.Abs(pl.Cost-want) > 1e-9 {
					t.Errorf("got cost %v, want %v at keep %v", pl.Cost, want, pl.Keep)
				}
			},
		},
		{
			name: "layer smaller than the multiple stays whole",
			p:    Problem{Curves: []Curve{curve("a", 6, 1), curve("b", 64, 1)}, Costs: chain(100, 1000), Budget: 600, Multiple: 8},
			check: func(t *testing.T, pl *Plan) {
				if pl.Channels["a"] != 6 {
					t.Errorf("got %d channels for a, want 6", pl.Channels["a"])
				}
			},
		},
		{
			name:    "budget below smallest model",
			p:       Problem{Curves: []Curve{curve("a", 32, 1), curve("b", 32, 1)}, Costs: chain(1000, 1000), Budget: 20, Multiple: 8},
			wantErr: ErrBudgetTooSmall,
		},
		{
			name:    "bad curve",
			p:       Problem{Curves: []Curve{{Layer: "a", Channels: 8, Ratios: []float64{0.5, 0.2}, Drops: []float64{1, 2}}}, Costs: chain(1, 1), Budget: 1},
			wantErr: errAny,
		},
		{
			name:    "zero budget",
			p:       Problem{Curves: []Curve{curve("a", 8, 1)}, Costs: chain(1, 1), Budget: 0},
			wantErr: errAny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := Solve(tt.p)
			switch {
			case tt.wantErr == errAny && err != nil:
				return
			case tt.wantErr != nil && errors.Is(err, tt.wantErr):
				return
			case tt.wantErr != nil:
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			}
			tt.check(t, pl)
		})
	}
}

var errAny = errors.New("any error")

func TestMinCost(t *testing.T) {
	p := Problem{Curves: []Curve{curve("a", 32, 1), curve("b", 32, 1)}, Costs: chain(1000, 1000), Multiple: 8}
	// a and b keep 8 of 32 channels: 1000/4 + 1000/16 + 10/4.
	if got, want := MinCost(p), 1000.0/4+1000.0/16+10.0/4; math.Abs(got-want) > 1e-9 {
		t.Fatalf("MinCost: got %v, want %v", got, want)
	}
	p.Budget = MinCost(p)
	if _, err := Solve(p); err != nil {
		t.Fatalf("Solve at MinCost: %v", err)
	}
	p.Budget *= 0.99
	if _, err := Solve(p); !errors.Is(err, ErrBudgetTooSmall) {
		t.Fatalf("Solve below MinCost: got %v, want ErrBudgetTooSmall", err)
	}
}

func TestDropAt(t *testing.T) {
	c := Curve{Layer: "x", Channels: 10, Ratios: []float64{0.2, 0.4, 0.6}, Drops: []float64{1, 0.5, 3}}
	for _, tt := range []struct{ r, want float64 }{{0, 0}, {0.1, 0.5}, {0.2, 1}, {0.3, 1}, {0.5, 2}, {0.8, 5}} {
		if got := c.DropAt(tt.r); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("DropAt(%v): got %v, want %v", tt.r, got, tt.want)
		}
	}
	if got := c.Tolerated(1); got != 0.4 {
		t.Errorf("Tolerated(1): got %v, want 0.4", got)
	}
}
