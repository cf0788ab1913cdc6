package agent

import (
	"fmt"
	"regexp"
	"strings"
)

// maxLabels bounds how many labels an agent carries.
const maxLabels = 64

var (
	labelKeyPattern   = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9_./-]{0,61}[A-Za-z0-9])?$`)
	labelValuePattern = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$`)
)

// ParseLabels reads operator labels written as "k=v,k2=v2" (the --labels flag). Keys
// and values follow Kubernetes label syntax: letters, digits, '-', '_', '.' (and '/'
// in keys), at most 63 characters, starting and ending alphanumeric; a value may be
// empty. It returns an error naming the first bad pair or a repeated key. An empty
// string gives no labels.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("labels: pair %d %q: want key=value", i+1, pair)
		}
		if err := checkLabel(k, v); err != nil {
			return nil, fmt.Errorf("labels: pair %d: %w", i+1, err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("labels: pair %d: key %q given twice", i+1, k)
		}
		out[k] = v
	}
	if len(out) > maxLabels {
		return nil, fmt.Errorf("labels: %d labels, limit %d", len(out), maxLabels)
	}
	return out, nil
}

// checkLabel validates one label.
func checkLabel(k, v string) error {
	if !labelKeyPattern.MatchString(k) {
		return fmt.Errorf("key %q: want 1-63 letters, digits, '-', '_', '.', '/', starting and ending alphanumeric", k)
	}
	if !labelValuePattern.MatchString(v) {
		return fmt.Errorf("key %q: value %q: want at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric", k, v)
	}
	return nil
}
