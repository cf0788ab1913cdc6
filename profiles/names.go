package profiles

import (
	"fmt"
	"strings"
)

// MaxNameLen is the longest class, model or device name.
const MaxNameLen = 63

// ValidateName reports whether s can name a class, model or device: 1 to MaxNameLen
// characters of [a-z0-9-], starting and ending with a letter or digit. Such a name is
// one NATS subject token and one etcd key segment.
func ValidateName(s string) error {
	if s == "" {
		return fmt.Errorf("must not be empty")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("%q is %d characters long, at most %d allowed", truncate(s, 20), len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: character %q at %d is not allowed; use lower-case letters, digits and '-'", s, c, i+1)
		}
	}
	if s[0] == '-' || s[len(s)-1] == '-' {
		return fmt.Errorf("%q must start and end with a letter or digit", s)
	}
	return nil
}

// SanitizeName turns s (a hostname, say) into a valid name: lower case, every other
// character replaced by '-', trimmed to MaxNameLen. It returns "" when nothing is left.
func SanitizeName(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			b = append(b, c)
		default:
			if len(b) > 0 && b[len(b)-1] != '-' {
				b = append(b, '-')
			}
		}
	}
	if len(b) > MaxNameLen {
		b = b[:MaxNameLen]
	}
	return strings.Trim(string(b), "-")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
