package dashboard

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/fleetprune/fleetprune/profiles"
)

// ErrNotAllowed is the error an Actions implementation wraps when the action is not
// allowed in the current state (promote on a finished rollout): the API answers 409.
var ErrNotAllowed = errors.New("action not allowed in the current state")

// APIError is the JSON body of every error answer, the same shape as the
// coordinator API's.
type APIError struct {
	// Error says what is wrong and, where it can, what to do.
	Error string `json:"error"`
	// Field is the field or path parameter at fault, when one is.
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, field, msg string) {
	writeJSON(w, status, APIError{Error: msg, Field: field})
}

// writeReadError answers a failed read: 404 for a missing record, 503 otherwise
// (etcd unreachable or state this build cannot decode).
func writeReadError(w http.ResponseWriter, field string, err error) {
	if errors.Is(err, profiles.ErrNotFound) {
		writeError(w, http.StatusNotFound, field, err.Error())
		return
	}
	writeError(w, http.StatusServiceUnavailable, "", err.Error())
}
