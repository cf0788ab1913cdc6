package profiles

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const validClass = `
  - name: small
    selector: "cores<=2"
    baseModel: lenet5
    slo: {p95Latency: 35ms, maxAccuracyDrop: 2}
`

const validModel = `
  - name: lenet5
    digest: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
    dataset: mnist
`

func TestParseFleetExample(t *testing.T) {
	b, err := os.ReadFile("testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFleet(b)
	if err != nil {
		t.Fatalf("ParseFleet(testdata/fleet.yaml): %v", err)
	}
	if len(f.Classes) != 3 || len(f.Models) != 1 {
		t.Fatalf("got %d classes and %d models, want 3 and 1", len(f.Classes), len(f.Models))
	}
	tiny := f.Classes[0]
	if tiny.Name != "tiny" || tiny.SLO.P95Latency.D() != 8*time.Millisecond || tiny.SLO.MaxModelBytes != 256*KiB ||
		tiny.SLO.MaxPeakMemory != 128*MiB || tiny.SLO.MaxAccuracyDrop != 2.5 || tiny.ChannelMultiple != 4 || tiny.Priority != 30 {
		t.Errorf("tiny class = %+v", tiny)
	}
	if got := f.Models[0].InputShape; !slices.Equal(got, []int64{1, 28, 28}) {
		t.Errorf("inputShape = %v, want [1 28 28]", got)
	}
	if err := f.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	// Placement over the example's classes.
	gw := HardwareProfile{Arch: "arm", Cores: 1, CPUQuota: 0.5, MemoryBytes: 512 * MiB}
	if c, _ := Place(f.Classes, gw); c.Name != "tiny" {
		t.Errorf("gateway placed in %q, want tiny", c.Name)
	}
	box := HardwareProfile{Arch: "amd64", Cores: 4, SIMDFlags: []string{"avx2"}, MemoryBytes: 8 * GiB, Labels: map[string]string{"tier": "edge"}}
	if c, _ := Place(f.Classes, box); c.Name != "edge-avx2" {
		t.Errorf("box placed in %q, want edge-avx2", c.Name)
	}
}

func TestFleetJSONRoundTrip(t *testing.T) {
	b, err := os.ReadFile("testdata/fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFleet(b)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	// JSON is YAML: the strict parser reads it back.
	back, err := ParseFleet(js)
	if err != nil {
		t.Fatalf("ParseFleet(json): %v\n%s", err, js)
	}
	if !reflect.DeepEqual(f, back) {
		t.Fatalf("round trip differs:\n got %+v\nwant %+v", back, f)
	}
	var viaJSON Fleet
	if err := json.Unmarshal(js, &viaJSON); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if !reflect.DeepEqual(f, &viaJSON) {
		t.Fatalf("encoding/json round trip differs:\n got %+v\nwant %+v", viaJSON, f)
	}
}

func TestParseFleetRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // field paths in line order; "" is the whole document
	}{
		{"malformed yaml", "classes: [\n  - name: a\n", []string{""}},
		{"tab indentation", "classes:\n\t- name: a\n", []string{""}},
		{"empty", "", []string{""}},
		{"only comments", "# nothing\n", []string{""}},
		{"no classes or models", "kind: Fleet\n", []string{""}},
		{"two documents", "models:" + validModel + "---\nmodels:" + validModel, []string{""}},
		{"not a mapping", "- a\n- b\n", []string{""}},
		{"unknown top-level field", "models:" + validModel + "extra: 1\n", []string{"extra"}},
		{"unknown class field", "models:" + validModel + "classes:" + validClass + "    color: red\n", []string{"classes[0].color"}},
		{"unknown slo field", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 1ms, maxAccuracyDrop: 1, p99Latency: 2ms}\n",
			[]string{"classes[0].slo.p99Latency"}},
		{"negative latency", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: -35ms, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].slo.p95Latency"}},
		{"zero latency", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {maxAccuracyDrop: 1}\n",
			[]string{"classes[0].slo.p95Latency"}},
		{"latency without unit", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 35, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].slo.p95Latency"}},
		{"accuracy drop over 100", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 120}\n",
			[]string{"classes[0].slo.maxAccuracyDrop"}},
		{"negative accuracy drop", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: -1}\n",
			[]string{"classes[0].slo.maxAccuracyDrop"}},
		{"nan accuracy drop", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: .nan}\n",
			[]string{"classes[0].slo.maxAccuracyDrop"}},
		{"bad size", "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1, maxModelBytes: lots}\n",
			[]string{"classes[0].slo.maxModelBytes"}},
		{"selector syntax error", "models:" + validModel + "classes:\n  - name: a\n    selector: 'cores>=four'\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].selector"}},
		{"bad names", "models:\n  - name: LeNet\n    digest: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef\n    dataset: mnist\nclasses:\n  - name: a.b\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1}\n",
			[]string{"models[0].name", "classes[0].name"}},
		{"duplicate class", "models:" + validModel + "classes:" + validClass + validClass, []string{"classes[1].name"}},
		{"duplicate field", "models:" + validModel + "classes:\n  - name: a\n    name: b\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].name"}},
		{"bad channel multiple", "models:" + validModel + "classes:\n  - name: a\n    channelMultiple: 6\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].channelMultiple"}},
		{"wrong type priority", "models:" + validModel + "classes:\n  - name: a\n    priority: high\n    baseModel: lenet5\n    slo: {p95Latency: 3ms, maxAccuracyDrop: 1}\n",
			[]string{"classes[0].priority"}},
		{"class list is a map", "models:" + validModel + "classes: {a: 1}\n", []string{"classes"}},
		{"bad digest", "models:\n  - name: m\n    digest: abc\n    dataset: mnist\n", []string{"models[0].digest"}},
		{"no digest nor source", "models:\n  - name: m\n    dataset: mnist\n", []string{"models[0].digest"}},
		{"model accuracy", "models:\n  - name: m\n    source: m.onnx\n    dataset: mnist\n    accuracy: 101\n    inputShape: [1, 0]\n", []string{"models[0].accuracy", "models[0].inputShape[1]"}},
		{"wrong kind and version", "apiVersion: v2\nkind: Pod\nmodels:" + validModel, []string{"apiVersion", "kind"}},
		{"anchors", "models:\n  - &m\n    name: m\n    source: x\n    dataset: mnist\n  - *m\n", []string{"models[0]", "models[1]"}},
		{"every error at once", "models:" + validModel + "classes:\n  - name: Bad\n    selector: 'cores>='\n    baseModel: lenet5\n    slo: {p95Latency: -1ms, maxAccuracyDrop: 101}\n    bogus: 1\n",
			[]string{"classes[0].name", "classes[0].selector", "classes[0].slo.p95Latency", "classes[0].slo.maxAccuracyDrop", "classes[0].bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFleet([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseFleet accepted it: %+v", f)
			}
			if f != nil {
				t.Errorf("ParseFleet returned a fleet with its error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %v is not an ErrorList", err)
			}
			if got := list.Fields(); !slices.Equal(got, tt.want) {
				t.Errorf("field paths = %q, want %q\n%v", got, tt.want, err)
			}
		})
	}
}

func TestParseFleetErrorsNameLines(t *testing.T) {
	doc := "models:" + validModel + "classes:\n  - name: a\n    baseModel: lenet5\n    slo:\n      p95Latency: 0s\n      maxAccuracyDrop: 1\n"
	_, err := ParseFleet([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "classes[0].slo.p95Latency (line 9): must be > 0") {
		t.Fatalf("error = %v, want it to name classes[0].slo.p95Latency at line 9", err)
	}
}

func TestParseFleetSizeLimit(t *testing.T) {
	big := make([]byte, MaxFleetBytes+1)
	for i := range big {
		big[i] = '#'
	}
	if _, err := ParseFleet(big); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("oversized document: error = %v, want a size error", err)
	}
}

func TestParseFleetKeepsStringsAsWritten(t *testing.T) {
	doc := "models:\n  - name: m\n    source: x.onnx\n    dataset: mnist\n    arch: 1.10\n"
	f, err := ParseFleet([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Models[0].Arch != "1.10" {
		t.Errorf("arch = %q, want 1.10 as written", f.Models[0].Arch)
	}
	if err := f.Validate(); err == nil {
		t.Errorf("Validate without digest succeeded; the store needs digests")
	}
}
