package profiles

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors of the package.
var (
	// ErrInvalid marks a document, class, model or device that failed validation;
	// the error is an ErrorList naming every problem.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound is returned when a key is absent from etcd.
	ErrNotFound = errors.New("not found")
)

// FieldError is one problem at one field path, such as
// "classes[1].slo.p95Latency: must be > 0".
type FieldError struct {
	// Field is the path of the field, "" for the whole document.
	Field string
	// Line is the 1-based line in the source document, 0 when unknown.
	Line int
	// Detail says what is wrong and what is allowed.
	Detail string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field)
	} else {
		b.WriteString("document")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Detail)
	return b.String()
}

// ErrorList is every validation problem found; errors.Is(list, ErrInvalid) holds.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	if len(l) == 1 {
		return "invalid: " + l[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid: %d problems:", len(l))
	for _, e := range l {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is makes errors.Is(list, ErrInvalid) true.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// Fields returns the field paths of the errors, in order.
func (l ErrorList) Fields() []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.Field
	}
	return out
}

// errs collects field errors.
type errs struct {
	list ErrorList
	// broken holds the paths the decoder could not read; validation adds nothing
	// more about them.
	broken map[string]bool
}

func (c *errs) add(field string, line int, format string, args ...any) {
	if c.broken[field] {
		return
	}
	c.list = append(c.list, &FieldError{Field: field, Line: line, Detail: fmt.Sprintf(format, args...)})
}

// err returns the collected errors as an ErrorList, or nil when there are none.
func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list
}

// join builds a field path: join("classes[1]", "slo") is "classes[1].slo".
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
