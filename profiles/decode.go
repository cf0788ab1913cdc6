package profiles

import (
	"encoding"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxListLen bounds every list in a decoded document; the per-list limits in
// validation are tighter.
const maxListLen = 4096

// lineMap maps field paths to their 1-based source line, and marks the paths whose
// node could not be decoded at all (so validation does not pile errors on them).
type lineMap struct {
	lines  map[string]int
	broken map[string]bool
}

func (m *lineMap) at(path string) int {
	if m == nil {
		return 0
	}
	return m.lines[path]
}

func (m *lineMap) isBroken(path string) bool { return m != nil && m.broken[path] }

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// strictDecoder decodes a YAML node tree into a Go value by its json tags, rejecting
// unknown and duplicate fields, and records every problem with its field path instead
// of stopping at the first.
type strictDecoder struct {
	errs  errs
	lines *lineMap
}

func newStrictDecoder() *strictDecoder {
	broken := map[string]bool{}
	return &strictDecoder{errs: errs{broken: broken}, lines: &lineMap{lines: map[string]int{}, broken: broken}}
}

// fail records a problem with the node at path itself; validation then skips path.
func (d *strictDecoder) fail(path string, line int, format string, args ...any) {
	d.lines.broken[path] = true
	d.errs.list = append(d.errs.list, &FieldError{Field: path, Line: line, Detail: fmt.Sprintf(format, args...)})
}

func (d *strictDecoder) decode(n *yaml.Node, v reflect.Value, path string) {
	d.lines.lines[path] = n.Line
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.fail(path, n.Line, "anchors and aliases are not supported; write the value out")
		return
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.fail(path, n.Line, "must be a single value, got %s", describeNode(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(path, n.Line, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(path, n.Line, "must be a list, got %s", describeNode(n))
			return
		}
		if len(n.Content) > maxListLen {
			d.fail(path, n.Line, "has %d entries, at most %d allowed", len(n.Content), maxListLen)
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), index(path, i))
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
			d.fail(path, n.Line, "must be a mapping, got %s", describeNode(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				d.errs.add(path, k.Line, "keys must be plain strings")
				continue
			}
			fp := join(path, k.Value)
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.errs.add(fp, k.Line, "duplicate key")
				continue
			}
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, e, fp)
			m.SetMapIndex(reflect.ValueOf(k.Value), e)
		}
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *strictDecoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(path, n.Line, "must be a mapping of fields, got %s", describeNode(n))
		return
	}
	fields, names := jsonFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errs.add(path, k.Line, "keys must be plain strings")
			continue
		}
		fp := join(path, k.Value)
		if seen[k.Value] {
			d.errs.add(fp, k.Line, "duplicate field")
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			d.errs.add(fp, k.Line, "unknown field; known fields here: %s", strings.Join(names, ", "))
			continue
		}
		d.decode(val, v.Field(idx), fp)
	}
}

func (d *strictDecoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	want := ""
	switch v.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "an integer"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Bool:
		want = "true or false"
	default:
		d.errs.add(path, n.Line, "cannot be decoded (internal: %s)", v.Type())
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(path, n.Line, "must be %s, got %s", want, describeNode(n))
		return
	}
	if v.Kind() == reflect.String && n.Tag != "!!str" && n.Style == 0 && (n.Tag == "!!bool" || n.Tag == "!!float" || n.Tag == "!!int") {
		// YAML would read yes as a bool and 1.10 as a float; keep the text as written.
		v.SetString(n.Value)
		return
	}
	if err := n.Decode(v.Addr().Interface()); err != nil {
		d.fail(path, n.Line, "must be %s, got %q", want, truncate(n.Value, 40))
	}
}

// jsonFields maps the json names of t's exported fields to their index, and lists the
// names in order.
func jsonFields(t reflect.Type) (map[string]int, []string) {
	m := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = i
		names = append(names, name)
	}
	slices.Sort(names)
	return m, names
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", truncate(n.Value, 40))
	}
	return "something else"
}
