package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fleetprune/fleetprune/profiles"
)

// Action is an operator's decision on a rollout.
type Action string

// Rollout actions.
const (
	ActionPause   Action = "pause"
	ActionResume  Action = "resume"
	ActionPromote Action = "promote"
	ActionAbort   Action = "abort"
)

// Actions are the operators' writes. The leader's reconcilers implement them: each
// applies the rollout package's transition (or starts a tuning run) and stores the
// result in a fenced transaction. They return errors wrapping profiles.ErrNotFound
// (unknown class or rollout: 404), ErrNotAllowed or profiles.ErrConflict (not allowed
// now, or the record changed meanwhile: 409), profiles.ErrNotLeader (503) or
// profiles.ErrInvalid (400).
type Actions interface {
	// RolloutAction applies action to rollout id of class, by the operator for
	// reason (may be "").
	RolloutAction(ctx context.Context, class, id string, action Action, reason string) error
	// Retune starts a new tuning run of class for reason.
	Retune(ctx context.Context, class, reason string) error
}

// ActionRequest is the optional JSON body of an action.
type ActionRequest struct {
	// Reason is recorded in the rollout's history or as the retune reason.
	Reason string `json:"reason,omitempty"`
}

// ActionResult answers a successful action.
type ActionResult struct {
	Class  string `json:"class"`
	ID     string `json:"id,omitempty"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// MaxReasonLen bounds an action's reason.
const MaxReasonLen = 500

// actionTimeout bounds one action's write.
const actionTimeout = 15 * time.Second

// decodeAction reads the optional body of an action request; on error it has
// answered 400 or 413.
func decodeAction(w http.ResponseWriter, r *http.Request) (ActionRequest, bool) {
	var req ActionRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxActionBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", MaxActionBody))
		return req, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return req, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, jsonField(err), "malformed JSON body: "+err.Error()+`; send {"reason": "..."} or nothing`)
		return req, false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "", "malformed JSON body: trailing data after the object")
		return req, false
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if len(req.Reason) > MaxReasonLen {
		writeError(w, http.StatusBadRequest, "reason", fmt.Sprintf("reason is %d bytes long, at most %d allowed", len(req.Reason), MaxReasonLen))
		return req, false
	}
	return req, true
}

// jsonField names the field a JSON decode error is about, when it says.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
	}
	return ""
}

// writeActionError maps an Actions error to its status.
func writeActionError(w http.ResponseWriter, field string, err error) {
	switch {
	case errors.Is(err, profiles.ErrNotFound):
		writeError(w, http.StatusNotFound, field, err.Error())
	case isTransitionRefused(err), errors.Is(err, profiles.ErrConflict):
		writeError(w, http.StatusConflict, "action", err.Error())
	case errors.Is(err, profiles.ErrInvalid):
		writeError(w, http.StatusBadRequest, "", err.Error())
	case errors.Is(err, profiles.ErrNotLeader):
		writeError(w, http.StatusServiceUnavailable, "", err.Error()+"; retry, or send the request to the leading coordinator")
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

func (s *server) handleRolloutAction(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	id, ok := pathName(w, r, "id")
	if !ok {
		return
	}
	action := Action(r.PathValue("action"))
	switch action {
	case ActionPause, ActionResume, ActionPromote, ActionAbort:
	default:
		writeError(w, http.StatusNotFound, "action", fmt.Sprintf("no rollout action %q; use pause, resume, promote or abort", action))
		return
	}
	req, ok := decodeAction(w, r)
	if !ok {
		return
	}
	if _, err := s.reader.Class(r.Context(), class); err != nil {
		writeReadError(w, "class", err)
		return
	}
	ro, err := s.reader.Rollout(r.Context(), class, id)
	if err != nil {
		writeReadError(w, "id", err)
		return
	}
	if err := allowed(ro, action); err != nil {
		writeActionError(w, "action", err)
		return
	}
	if s.actions == nil {
		writeError(w, http.StatusServiceUnavailable, "", "this server is read-only: operator actions are not wired in")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	if err := s.actions.RolloutAction(ctx, class, id, action, req.Reason); err != nil {
		writeActionError(w, "id", err)
		return
	}
	s.cfg.log.Info("dashboard: rollout action", "class", class, "rollout", id, "action", action, "reason", req.Reason)
	writeJSON(w, http.StatusOK, ActionResult{Class: class, ID: id, Action: string(action), Reason: req.Reason})
}

// DefaultRetuneReason is the retune reason when the operator gives none.
const DefaultRetuneReason = "operator request"

func (s *server) handleRetune(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	req, ok := decodeAction(w, r)
	if !ok {
		return
	}
	if _, err := s.reader.Class(r.Context(), class); err != nil {
		writeReadError(w, "class", err)
		return
	}
	if req.Reason == "" {
		req.Reason = DefaultRetuneReason
	}
	if s.actions == nil {
		writeError(w, http.StatusServiceUnavailable, "", "this server is read-only: operator actions are not wired in")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	defer cancel()
	if err := s.actions.Retune(ctx, class, req.Reason); err != nil {
		writeActionError(w, "class", err)
		return
	}
	s.cfg.log.Info("dashboard: retune", "class", class, "reason", req.Reason)
	writeJSON(w, http.StatusOK, ActionResult{Class: class, Action: "retune", Reason: req.Reason})
}
