package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The fleet document's header and limits.
const (
	// APIVersion is the apiVersion a fleet document may declare.
	APIVersion = "fleetprune.dev/v1"
	// KindFleet is the kind a fleet document may declare.
	KindFleet = "Fleet"
	// MaxFleetBytes is the largest fleet document accepted.
	MaxFleetBytes = 1 << 20
	// MaxClasses is the most classes one document may declare; it keeps applying the
	// document within one etcd transaction.
	MaxClasses = 64
	// MaxModels is the most models one document may declare.
	MaxModels = 32
)

// Fleet is the document `fleetprune apply -f fleet.yaml` reads: device classes and
// base models, applied all together or not at all.
type Fleet struct {
	// APIVersion is optional; when present it must be APIVersion.
	APIVersion string `json:"apiVersion,omitempty"`
	// Kind is optional; when present it must be KindFleet.
	Kind    string        `json:"kind,omitempty"`
	Classes []DeviceClass `json:"classes,omitempty"`
	Models  []Model       `json:"models,omitempty"`
}

// ParseFleet decodes and validates a fleet document in YAML (or JSON, which is YAML).
// Decoding is strict: unknown and duplicate fields are errors. The error, an
// ErrorList (errors.Is(err, ErrInvalid)), names every problem by field path and line.
// A model may give source instead of digest; the caller fills Digest in from it
// before storing.
func ParseFleet(b []byte) (*Fleet, error) {
	if len(b) > MaxFleetBytes {
		return nil, ErrorList{{Detail: fmt.Sprintf("document is %d bytes, at most %d allowed", len(b), MaxFleetBytes)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{Detail: "document is empty; declare classes: and models:"}}
		}
		return nil, ErrorList{{Detail: "malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return nil, ErrorList{{Detail: "malformed YAML after the first document: " + strings.TrimPrefix(err.Error(), "yaml: ")}}
		}
		return nil, ErrorList{{Line: line, Detail: "more than one document; put every class and model in one document"}}
	}
	node := &root
	if node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil, ErrorList{{Detail: "document is empty; declare classes: and models:"}}
		}
		node = node.Content[0]
	}
	var f Fleet
	d := newStrictDecoder()
	d.decode(node, reflect.ValueOf(&f).Elem(), "")
	f.validate(&d.errs, d.lines, false)
	if len(d.errs.list) > 0 {
		// Read top to bottom: by line, problems without a line last.
		slices.SortStableFunc(d.errs.list, func(a, b *FieldError) int {
			switch {
			case a.Line == b.Line:
				return 0
			case a.Line == 0:
				return 1
			case b.Line == 0:
				return -1
			}
			return a.Line - b.Line
		})
		return nil, d.errs.list
	}
	return &f, nil
}

// Validate checks the whole fleet, digests included; the ErrorList names every
// problem by field path.
func (f *Fleet) Validate() error {
	var e errs
	f.validate(&e, nil, true)
	return e.err()
}

func (f *Fleet) validate(e *errs, lines *lineMap, needDigest bool) {
	if f.APIVersion != "" && f.APIVersion != APIVersion {
		e.add("apiVersion", lines.at("apiVersion"), "must be %q, got %q", APIVersion, truncate(f.APIVersion, 40))
	}
	if f.Kind != "" && f.Kind != KindFleet {
		e.add("kind", lines.at("kind"), "must be %q, got %q", KindFleet, truncate(f.Kind, 40))
	}
	if len(f.Classes) == 0 && len(f.Models) == 0 && len(e.list) == 0 {
		e.add("", 0, "declares no classes and no models")
	}
	if len(f.Classes) > MaxClasses {
		e.add("classes", lines.at("classes"), "%d classes, at most %d in one document", len(f.Classes), MaxClasses)
	}
	if len(f.Models) > MaxModels {
		e.add("models", lines.at("models"), "%d models, at most %d in one document", len(f.Models), MaxModels)
	}
	seen := map[string]int{}
	for i, c := range f.Classes {
		p := index("classes", i)
		if lines.isBroken(p) {
			continue
		}
		c.validate(e, p, lines)
		if j, dup := seen[c.Name]; dup && c.Name != "" {
			e.add(join(p, "name"), lines.at(join(p, "name")), "duplicate of classes[%d]", j)
		} else {
			seen[c.Name] = i
		}
	}
	seen = map[string]int{}
	for i, m := range f.Models {
		p := index("models", i)
		if lines.isBroken(p) {
			continue
		}
		m.validate(e, p, lines, needDigest)
		if j, dup := seen[m.Name]; dup && m.Name != "" {
			e.add(join(p, "name"), lines.at(join(p, "name")), "duplicate of models[%d]", j)
		} else {
			seen[m.Name] = i
		}
	}
}

// Model returns the model named name in the document.
func (f *Fleet) Model(name string) (Model, bool) {
	for _, m := range f.Models {
		if m.Name == name {
			return m, true
		}
	}
	return Model{}, false
}
