package profiles

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxSelectorLen is the longest selector source accepted.
const MaxSelectorLen = 1024

// Selector picks devices by hardware profile. Its source is a comma-separated list of
// requirements, all of which must hold (an empty selector matches every device):
//
//	arch=amd64               arch, os, hostname: =, ==, !=, in (...), notin (...)
//	cores>=4                 cores, threads: integers; =, !=, <, <=, >, >=, in, notin
//	memory>=2GiB             memory: sizes (2GiB, 512MiB, 4096)
//	cpuQuota<=1.5            cpuQuota: cores; a device without a quota counts its cores
//	has avx2, !has avx512f   SIMD flags present or absent (simd=avx2 says the same)
//	runtime=fleetprune-go    runtime, simd: the list contains (or, with != and notin, lacks) the value
//	site=lab, tier!=prod     any other key is a label; labels.<key> names one explicitly
//	zone in (a,b)            a label in a set; notin: absent or outside the set
type Selector struct {
	src  string
	reqs []requirement
}

// ParseSelector parses a selector; a syntax error is a *SelectorError naming the
// column.
func ParseSelector(src string) (Selector, error) {
	if len(src) > MaxSelectorLen {
		return Selector{}, &SelectorError{Input: src, Pos: MaxSelectorLen, Msg: fmt.Sprintf("selector is %d bytes long, at most %d allowed", len(src), MaxSelectorLen)}
	}
	p := &selParser{src: src}
	reqs, err := p.parse()
	if err != nil {
		return Selector{}, err
	}
	return Selector{src: strings.TrimSpace(src), reqs: reqs}, nil
}

// MustParseSelector is ParseSelector for selectors written in code; it panics on a
// syntax error.
func MustParseSelector(src string) Selector {
	s, err := ParseSelector(src)
	if err != nil {
		panic(err)
	}
	return s
}

// String returns the selector's source.
func (s Selector) String() string { return s.src }

// Empty reports whether s has no requirement (it matches every device).
func (s Selector) Empty() bool { return len(s.reqs) == 0 }

// MarshalText writes the selector's source.
func (s Selector) MarshalText() ([]byte, error) { return []byte(s.src), nil }

// UnmarshalText parses a selector.
func (s *Selector) UnmarshalText(b []byte) error {
	v, err := ParseSelector(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// SelectorError is a selector syntax error.
type SelectorError struct {
	Input string
	// Pos is the 0-based byte offset of the problem.
	Pos int
	Msg string
}

func (e *SelectorError) Error() string {
	return fmt.Sprintf("selector %q: column %d: %s", truncate(e.Input, 80), e.Pos+1, e.Msg)
}

// attrKind says which values and operators an attribute takes.
type attrKind int

const (
	kindString attrKind = iota // arch, os, hostname
	kindInt                    // cores, threads
	kindSize                   // memory
	kindFloat                  // cpuQuota
	kindList                   // simd, runtime: a list contains the value
	kindLabel                  // labels
)

var attributes = map[string]attrKind{
	"arch":     kindString,
	"os":       kindString,
	"hostname": kindString,
	"cores":    kindInt,
	"threads":  kindInt,
	"memory":   kindSize,
	"cpuQuota": kindFloat,
	"simd":     kindList,
	"runtime":  kindList,
}

type operator string

const (
	opEq    operator = "="
	opNe    operator = "!="
	opLt    operator = "<"
	opLe    operator = "<="
	opGt    operator = ">"
	opGe    operator = ">="
	opIn    operator = "in"
	opNotIn operator = "notin"
)

// requirement is one comparison: key op values.
type requirement struct {
	key    string // attribute name, or the label key for kindLabel
	kind   attrKind
	op     operator
	values []string  // string forms, for string, list and label kinds
	nums   []float64 // numeric forms, for int, size and float kinds
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tOp
	tLParen
	tRParen
	tComma
	tBang
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of selector"
	case tWord:
		return fmt.Sprintf("%q", truncate(t.text, 30))
	}
	return fmt.Sprintf("%q", t.text)
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '/'
}

type selParser struct {
	src string
	off int
	tok token
}

func (p *selParser) errorf(pos int, format string, args ...any) error {
	return &SelectorError{Input: p.src, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// next scans the next token into p.tok.
func (p *selParser) next() error {
	for p.off < len(p.src) && (p.src[p.off] == ' ' || p.src[p.off] == '\t' || p.src[p.off] == '\n' || p.src[p.off] == '\r') {
		p.off++
	}
	start := p.off
	if p.off >= len(p.src) {
		p.tok = token{kind: tEOF, pos: start}
		return nil
	}
	c := p.src[p.off]
	two := ""
	if p.off+1 < len(p.src) {
		two = p.src[p.off : p.off+2]
	}
	switch {
	case two == "!=" || two == ">=" || two == "<=" || two == "==":
		p.off += 2
		p.tok = token{kind: tOp, text: two, pos: start}
	case c == '=' || c == '<' || c == '>':
		p.off++
		p.tok = token{kind: tOp, text: string(c), pos: start}
	case c == '!':
		p.off++
		p.tok = token{kind: tBang, text: "!", pos: start}
	case c == '(':
		p.off++
		p.tok = token{kind: tLParen, text: "(", pos: start}
	case c == ')':
		p.off++
		p.tok = token{kind: tRParen, text: ")", pos: start}
	case c == ',':
		p.off++
		p.tok = token{kind: tComma, text: ",", pos: start}
	case isWordByte(c):
		for p.off < len(p.src) && isWordByte(p.src[p.off]) {
			p.off++
		}
		p.tok = token{kind: tWord, text: p.src[start:p.off], pos: start}
	default:
		return p.errorf(start, "unexpected character %q; a requirement looks like cores>=4, has avx2 or zone in (a,b)", c)
	}
	return nil
}

func (p *selParser) parse() ([]requirement, error) {
	if err := p.next(); err != nil {
		return nil, err
	}
	var reqs []requirement
	if p.tok.kind == tEOF {
		return nil, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, r)
		switch p.tok.kind {
		case tEOF:
			return reqs, nil
		case tComma:
			if err := p.next(); err != nil {
				return nil, err
			}
		default:
			return nil, p.errorf(p.tok.pos, "expected ',' or end of selector after a requirement, got %s", p.tok.describe())
		}
	}
}

func (p *selParser) requirement() (requirement, error) {
	switch {
	case p.tok.kind == tBang:
		if err := p.next(); err != nil {
			return requirement{}, err
		}
		if p.tok.kind != tWord || p.tok.text != "has" {
			return requirement{}, p.errorf(p.tok.pos, "expected \"has\" after '!', got %s", p.tok.describe())
		}
		return p.hasFlag(opNotIn)
	case p.tok.kind == tWord && p.tok.text == "has":
		// "has avx2" unless "has" is a label key compared with an operator.
		save, saveOff := p.tok, p.off
		if err := p.next(); err != nil {
			return requirement{}, err
		}
		if p.tok.kind == tWord && p.tok.text != "in" && p.tok.text != "notin" {
			p.tok, p.off = save, saveOff
			return p.hasFlag(opIn)
		}
		if p.tok.kind != tOp && p.tok.kind != tWord {
			return requirement{}, p.errorf(p.tok.pos, "expected a SIMD flag such as avx2 after \"has\", got %s", p.tok.describe())
		}
		p.tok, p.off = save, saveOff
	case p.tok.kind != tWord:
		return requirement{}, p.errorf(p.tok.pos, "expected a key (arch, cores, memory, a label, ...) or \"has\", got %s", p.tok.describe())
	}
	keyTok := p.tok
	r := requirement{key: keyTok.text, kind: kindLabel}
	if kind, ok := attributes[keyTok.text]; ok {
		r.kind = kind
	} else if rest, ok := strings.CutPrefix(keyTok.text, "labels."); ok {
		r.key = rest
	}
	if err := validateLabelKey(r.key); r.kind == kindLabel && err != nil {
		return requirement{}, p.errorf(keyTok.pos, "label key: %v", err)
	}
	if err := p.next(); err != nil {
		return requirement{}, err
	}
	opTok := p.tok
	switch {
	case opTok.kind == tOp:
		r.op = operator(opTok.text)
		if r.op == "==" {
			r.op = opEq
		}
	case opTok.kind == tWord && (opTok.text == "in" || opTok.text == "notin"):
		r.op = operator(opTok.text)
	default:
		return requirement{}, p.errorf(opTok.pos, "expected an operator (=, !=, <, <=, >, >=, in, notin) after %q, got %s", keyTok.text, opTok.describe())
	}
	ordered := r.op == opLt || r.op == opLe || r.op == opGt || r.op == opGe
	if ordered && (r.kind == kindString || r.kind == kindList || r.kind == kindLabel) {
		return requirement{}, p.errorf(opTok.pos, "operator %s needs a number; it works on cores, threads, memory and cpuQuota, not on %q", opTok.text, keyTok.text)
	}
	if err := p.next(); err != nil {
		return requirement{}, err
	}
	var valToks []token
	if r.op == opIn || r.op == opNotIn {
		if p.tok.kind != tLParen {
			return requirement{}, p.errorf(p.tok.pos, "expected '(' after %s, got %s", r.op, p.tok.describe())
		}
		for {
			if err := p.next(); err != nil {
				return requirement{}, err
			}
			if p.tok.kind != tWord {
				return requirement{}, p.errorf(p.tok.pos, "expected a value in the %s list, got %s", r.op, p.tok.describe())
			}
			valToks = append(valToks, p.tok)
			if err := p.next(); err != nil {
				return requirement{}, err
			}
			if p.tok.kind == tRParen {
				break
			}
			if p.tok.kind != tComma {
				return requirement{}, p.errorf(p.tok.pos, "expected ',' or ')' in the %s list, got %s", r.op, p.tok.describe())
			}
		}
	} else {
		if p.tok.kind != tWord {
			return requirement{}, p.errorf(p.tok.pos, "expected a value after %s%s, got %s", keyTok.text, opTok.text, p.tok.describe())
		}
		valToks = append(valToks, p.tok)
	}
	for _, vt := range valToks {
		if err := r.addValue(vt.text); err != nil {
			return requirement{}, p.errorf(vt.pos, "%s: %v", keyTok.text, err)
		}
	}
	if err := p.next(); err != nil {
		return requirement{}, err
	}
	return r, nil
}

// hasFlag parses the flag after "has" (p.tok is "has"); op is opIn for has, opNotIn
// for !has.
func (p *selParser) hasFlag(op operator) (requirement, error) {
	if err := p.next(); err != nil {
		return requirement{}, err
	}
	if p.tok.kind != tWord {
		return requirement{}, p.errorf(p.tok.pos, "expected a SIMD flag such as avx2 after \"has\", got %s", p.tok.describe())
	}
	r := requirement{key: "simd", kind: kindList, op: op, values: []string{p.tok.text}}
	if err := p.next(); err != nil {
		return requirement{}, err
	}
	return r, nil
}

func (r *requirement) addValue(v string) error {
	switch r.kind {
	case kindInt:
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not an integer", truncate(v, 30))
		}
		r.nums = append(r.nums, float64(n))
	case kindFloat:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f != f || f < 0 || f > 1<<16 {
			return fmt.Errorf("%q is not a number of cores", truncate(v, 30))
		}
		r.nums = append(r.nums, f)
	case kindSize:
		s, err := ParseByteSize(v)
		if err != nil {
			return err
		}
		r.nums = append(r.nums, float64(s))
	case kindLabel:
		if err := validateLabelValue(v); err != nil {
			return err
		}
		r.values = append(r.values, v)
	default:
		r.values = append(r.values, v)
	}
	return nil
}

// validateLabelKey checks a label key: 1 to 63 characters of [A-Za-z0-9._/-].
func validateLabelKey(k string) error {
	if k == "" || len(k) > 63 {
		return fmt.Errorf("%q must be 1 to 63 characters long", truncate(k, 30))
	}
	for i := 0; i < len(k); i++ {
		if !isWordByte(k[i]) {
			return fmt.Errorf("%q: character %q is not allowed; use letters, digits, '-', '_', '.', '/'", truncate(k, 30), k[i])
		}
	}
	return nil
}

// validateLabelValue checks a label value: at most 63 characters of [A-Za-z0-9._/-].
func validateLabelValue(v string) error {
	if len(v) > 63 {
		return fmt.Errorf("value %q is longer than 63 characters", truncate(v, 30))
	}
	for i := 0; i < len(v); i++ {
		if !isWordByte(v[i]) {
			return fmt.Errorf("value %q: character %q is not allowed; use letters, digits, '-', '_', '.', '/'", truncate(v, 30), v[i])
		}
	}
	return nil
}

func validateLabel(k, v string) error {
	if err := validateLabelKey(k); err != nil {
		return err
	}
	return validateLabelValue(v)
}

// Matches reports whether profile p meets every requirement of s.
func (s Selector) Matches(p HardwareProfile) bool {
	for _, r := range s.reqs {
		if !r.matches(p) {
			return false
		}
	}
	return true
}

func (r requirement) matches(p HardwareProfile) bool {
	switch r.kind {
	case kindString:
		var v string
		switch r.key {
		case "arch":
			v = p.Arch
		case "os":
			v = p.OS
		case "hostname":
			v = p.Hostname
		}
		return r.matchSet(slices.Contains(r.values, v))
	case kindList:
		list := p.SIMDFlags
		if r.key == "runtime" {
			list = p.Runtimes
		}
		found := false
		for _, v := range r.values {
			if slices.Contains(list, v) {
				found = true
				break
			}
		}
		return r.matchSet(found)
	case kindLabel:
		v, ok := p.Labels[r.key]
		return r.matchSet(ok && slices.Contains(r.values, v))
	}
	var x float64
	switch r.key {
	case "cores":
		x = float64(p.Cores)
	case "threads":
		x = float64(p.Threads)
	case "memory":
		x = float64(p.MemoryBytes)
	case "cpuQuota":
		x = p.CPUQuota
		if x <= 0 {
			x = float64(p.Cores)
			if p.Cores <= 0 {
				x = 1 << 16
			}
		}
	}
	switch r.op {
	case opLt:
		return x < r.nums[0]
	case opLe:
		return x <= r.nums[0]
	case opGt:
		return x > r.nums[0]
	case opGe:
		return x >= r.nums[0]
	}
	return r.matchSet(slices.Contains(r.nums, x))
}

// matchSet applies =, in (found) or !=, notin (not found).
func (r requirement) matchSet(found bool) bool {
	if r.op == opNe || r.op == opNotIn {
		return !found
	}
	return found
}
