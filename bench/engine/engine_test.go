package main

import (
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	s := sample{5, 1, 4, 2, 3}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 3}, {0.95, 5}, {1, 5}} {
		if got := s.quantile(tt.q); got != tt.want {
			t.Errorf("quantile(%v) of %v: got %v, want %v", tt.q, s, got, tt.want)
		}
	}
	if got := (sample{}).median(); got != 0 {
		t.Errorf("median of empty sample: got %v, want 0", got)
	}
	if s[0] != 5 {
		t.Errorf("quantile sorted the caller's sample in place: %v", s)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-threads", "1", "-models", "lenet-5, resnet-8", "-quick"})
	if err != nil {
		t.Fatal(err)
	}
	if c.threads != 1 || c.rounds != 2 || strings.Join(c.archs, ",") != "lenet-5,resnet-8" || c.sparsity != 0.9 {
		t.Errorf("got threads %d rounds %d archs %v sparsity %v, want 1 2 [lenet-5 resnet-8] 0.9", c.threads, c.rounds, c.archs, c.sparsity)
	}
	for _, args := range [][]string{
		{"-threads", "0"},
		{"-models", "vgg"},
		{"-models", ","},
		{"-sparsity", "1"},
		{"-sparsity", "-0.1"},
		{"-rounds", "1000"},
		{"-torch-omp-wait", "spin"},
		{"extra"},
		{"-nope"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
}

func TestMagnitudePrune(t *testing.T) {
	w := []float32{0.1, -0.5, 0.3, -0.05, 0.9, 0.2, -0.7, 0.4, 0.01, -0.6}
	got := magnitudePrune(w, 0.5)
	zeros := 0
	for i, v := range got {
		if v == 0 {
			zeros++
			continue
		}
		if v != w[i] {
			t.Errorf("kept element %d changed: got %v, want %v", i, v, w[i])
		}
	}
	if zeros != 5 {
		t.Errorf("zeros: got %d, want 5 of %d", zeros, len(w))
	}
	for _, i := range []int{1, 4, 6, 9} {
		if got[i] == 0 {
			t.Errorf("large element %d (%v) was pruned", i, w[i])
		}
	}
	if w[0] != 0.1 {
		t.Errorf("magnitudePrune changed its input")
	}
}
