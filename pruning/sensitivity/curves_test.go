package sensitivity

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func sampleCurves() *Curves {
	return &Curves{Version: FormatVersion, Model: "m", Method: "structured", Criterion: "l1", Dataset: "mnist/val",
		Samples: 500, Baseline: 97.5, Ratios: []float64{0.25, 0.5},
		Layers: []LayerCurve{
			{Layer: "fc1", Units: 300, Params: 235200, MACs: 235200, Accuracy: []float64{97.4, 96}, Drop: []float64{0.1, 1.5}},
			{Layer: "fc2", Units: 100, Params: 30000, MACs: 30000, Accuracy: []float64{97.5, 97.7}, Drop: []float64{0, -0.2}},
		}}
}

func TestCurvesRoundTrip(t *testing.T) {
	c := sampleCurves()
	var b bytes.Buffer
	if err := c.Encode(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
	path := t.TempDir() + "/sens.json"
	if err := c.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	got, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("file round trip: got %+v, want %+v", got, c)
	}
	pc := got.PlanCurves()
	if len(pc) != 2 || pc[0].Layer != "fc1" || pc[0].Channels != 300 || pc[1].Drops[1] != -0.2 {
		t.Fatalf("plan curves: got %+v", pc)
	}
	if err := pc[0].Validate(); err != nil {
		t.Fatalf("plan curve invalid: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := func() string {
		var b bytes.Buffer
		if err := sampleCurves().Encode(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "decode"},
		{"not json", "ratios: [0.5]", "decode"},
		{"unknown field", strings.Replace(good, `"model"`, `"modle"`, 1), "unknown field"},
		{"wrong version", strings.Replace(good, `"version": 1`, `"version": 7`, 1), "version"},
		{"ratio one", strings.Replace(good, `0.5`, `1`, 1), "ratios"},
		{"decreasing ratios", strings.Replace(good, `0.25`, `0.75`, 1), "ratios"},
		{"unknown method", strings.Replace(good, `"structured"`, `"magic"`, 1), "method"},
		{"missing drops", strings.Replace(good, `"drop": [
        0.1,
        1.5
      ]`, `"drop": [0.1]`, 1), "drops"},
		{"trailing data", good + "{}", "trailing"},
		{"duplicate layer", strings.Replace(good, `"fc2"`, `"fc1"`, 1), "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	var b bytes.Buffer
	if err := sampleCurves().Encode(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"version":1,"method":"unstructured","ratios":[0.5],"layers":[{"layer":"a","units":1,"accuracy":[1e308],"drop":[0]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Decode(bytes.NewReader(in))
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same curves.
		var out bytes.Buffer
		if err := c.Encode(&out); err != nil {
			t.Fatalf("decoded curves do not encode: %v", err)
		}
		c2, err := Decode(&out)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("re-decode: %v, %+v vs %+v", err, c, c2)
		}
		_ = c.PlanCurves()
	})
}
