package profiles

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// Duration is a time.Duration written as a string such as "35ms" in documents and
// JSON.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as "35ms".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a Go duration such as "35ms", "1.5s" or "2m".
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write it like \"35ms\" or \"2s\"", truncate(s, 40))
	}
	*d = Duration(v)
	return nil
}

// ByteSize is a size in bytes, written as "4MiB", "2GiB", "512KiB", "4MB" or a plain
// number in documents.
type ByteSize uint64

// Size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

// String formats s exactly, in the largest binary unit that divides it: "4MiB".
func (s ByteSize) String() string {
	switch {
	case s == 0:
		return "0"
	case s%GiB == 0:
		return strconv.FormatUint(uint64(s/GiB), 10) + "GiB"
	case s%MiB == 0:
		return strconv.FormatUint(uint64(s/MiB), 10) + "MiB"
	case s%KiB == 0:
		return strconv.FormatUint(uint64(s/KiB), 10) + "KiB"
	}
	return strconv.FormatUint(uint64(s), 10)
}

// MarshalText writes s as String does.
func (s ByteSize) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses "4MiB", "4 MiB", "4Mi", "4MB" (decimal), "4096" and the like.
func (s *ByteSize) UnmarshalText(b []byte) error {
	v, err := ParseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// UnmarshalJSON accepts a JSON string ("4MiB") or a JSON number of bytes.
func (s *ByteSize) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		return s.UnmarshalText([]byte(str))
	}
	return s.UnmarshalText(b)
}

// ParseByteSize parses a size such as "4MiB", "2GiB", "4MB" or "4096".
func ParseByteSize(str string) (ByteSize, error) {
	t := strings.TrimSpace(str)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q: a size cannot be negative", truncate(t, 40))
	}
	// "4Mi" is Kubernetes' spelling; humanize wants "4MiB".
	if strings.HasSuffix(t, "i") || strings.HasSuffix(t, "I") {
		t += "B"
	}
	v, err := humanize.ParseBytes(t)
	if err != nil || t == "" {
		return 0, fmt.Errorf("%q is not a size; write it like \"4MiB\", \"2GiB\" or a number of bytes", truncate(strings.TrimSpace(str), 40))
	}
	return ByteSize(v), nil
}
