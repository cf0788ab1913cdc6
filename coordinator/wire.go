package coordinator

import (
	"errors"
	"fmt"
	"strings"

	"github.com/fleetprune/fleetprune/profiles"
)

// errRejected marks a wire message the coordinator refuses: it is logged with the
// reason and dropped (or answered with the reason), never retried.
var errRejected = errors.New("rejected")

// maxNameLen bounds free-text names on the wire (agent version, variant ids).
const maxNameLen = 128

// checkName returns an errRejected error naming field when s cannot be a device id,
// class or variant name (profiles.ValidateName: one NATS token, one etcd segment).
func checkName(field, s string) error {
	if err := profiles.ValidateName(s); err != nil {
		return fmt.Errorf("%w: %s: %v", errRejected, field, err)
	}
	return nil
}

// checkSize rejects a message larger than limit before it is decoded.
func checkSize(what string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", errRejected, what, n, limit)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s is empty", errRejected, what)
	}
	return nil
}

// subjectTokens splits subject and checks it has want tokens and the given prefix
// tokens, returning the remaining tokens.
func subjectTokens(subject string, prefix []string, want int) ([]string, error) {
	toks := strings.Split(subject, ".")
	if len(toks) != want {
		return nil, fmt.Errorf("%w: subject %q has %d tokens, want %d", errRejected, truncate(subject, 128), len(toks), want)
	}
	for i, p := range prefix {
		if toks[i] != p {
			return nil, fmt.Errorf("%w: subject %q is not under %s", errRejected, truncate(subject, 128), strings.Join(prefix, "."))
		}
	}
	return toks[len(prefix):], nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
