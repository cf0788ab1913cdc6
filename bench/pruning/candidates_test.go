package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fleetprune/fleetprune/pruning/models"
)

func TestParseCandidates(t *testing.T) {
	cs, err := parseCandidates(" stem.conv=4, layer1.conv1=8 ; layer3.conv2=24;")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].channels["stem.conv"] != 4 || cs[0].channels["layer1.conv1"] != 8 || cs[1].channels["layer3.conv2"] != 24 {
		t.Fatalf("parsed %+v", cs)
	}
	for _, bad := range []string{"", " ; ", "stem.conv", "stem.conv=0", "stem.conv=-4", "stem.conv=x", "a=1,a=2"} {
		if _, err := parseCandidates(bad); err == nil {
			t.Errorf("parseCandidates(%q) gave no error", bad)
		}
	}
}

// TestCandidates prunes ResNet-8 to a candidate's channels (the output channels of
// each named group's convolution must match), rejects unknown groups and counts above
// a group's size, and times one candidate once.
func TestCandidates(t *testing.T) {
	ctx := context.Background()
	base, err := models.Build("resnet-8", 1)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := parseCandidates("stem.conv=4,layer1.conv1=8,layer2.conv2=24,layer3.conv1=8")
	if err != nil {
		t.Fatal(err)
	}
	g, err := candidateGraph(ctx, base, cs[0])
	if err != nil {
		t.Fatal(err)
	}
	for w, want := range map[string]int{"stem.conv.weight": 4, "layer1.conv1.weight": 8, "layer1.conv2.weight": 4, "layer2.conv1.weight": 32,
		"layer2.conv2.weight": 24, "layer2.down.conv.weight": 24, "layer3.conv1.weight": 8, "layer3.conv2.weight": 64} {
		p, ok := g.Params[w]
		if !ok {
			t.Fatalf("no %s in the pruned model", w)
		}
		if p.Shape[0] != want {
			t.Errorf("%s has %d filters, want %d", w, p.Shape[0], want)
		}
	}
	if base.Params["stem.conv.weight"].Shape[0] != 16 {
		t.Fatal("candidateGraph changed the base")
	}
	for _, bad := range []string{"nosuch=4", "stem.conv=17"} {
		c, err := parseCandidates(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := candidateGraph(ctx, base, c[0]); err == nil {
			t.Errorf("candidate %q gave no error", bad)
		}
	}
	var out bytes.Buffer
	if err := measureCandidates(ctx, &out, base, cs, 1, 1); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), cs[0].name) || !strings.Contains(out.String(), "efficiency") {
		t.Fatalf("table:\n%s", out.String())
	}
}
