package coordinator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fleetprune/fleetprune/profiles"
	fpv1 "github.com/fleetprune/fleetprune/proto/fleetprune/v1"
)

// ApplyResult is the answer to a successful apply.
type ApplyResult struct {
	Classes []string `json:"classes"`
	Models  []string `json:"models"`
}

// ArtifactResult is the answer to an artifact upload.
type ArtifactResult struct {
	SHA256    string `json:"sha256"`
	SizeBytes int    `json:"sizeBytes"`
}

// handleApply validates a fleet document (YAML or JSON) and stores all of its classes
// and models in one fenced transaction, or nothing: 400 with every error by field
// path, 503 on a coordinator that does not lead.
func (c *Coordinator) handleApply(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, profiles.MaxFleetBytes+1))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, APIError{Error: fmt.Sprintf("fleet document is larger than %d bytes", profiles.MaxFleetBytes)})
		return
	}
	fleet, err := profiles.ParseFleet(body)
	if err != nil {
		writeInvalid(w, err)
		return
	}
	if err := c.checkModelArtifacts(r.Context(), fleet); err != nil {
		writeInvalid(w, err)
		return
	}
	f, ok := c.currentTerm()
	if !ok {
		c.writeNotLeader(r.Context(), w)
		return
	}
	err = c.store.ApplyFleet(r.Context(), f, fleet)
	switch {
	case errors.Is(err, profiles.ErrInvalid):
		writeInvalid(w, err)
		return
	case errors.Is(err, ErrNotLeader):
		c.writeNotLeader(r.Context(), w)
		return
	case errors.Is(err, profiles.ErrConflict):
		writeError(w, http.StatusConflict, APIError{Error: err.Error()})
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, APIError{Error: err.Error()})
		return
	}
	res := ApplyResult{Classes: []string{}, Models: []string{}}
	for _, cl := range fleet.Classes {
		res.Classes = append(res.Classes, cl.Name)
	}
	for _, m := range fleet.Models {
		res.Models = append(res.Models, m.Name)
	}
	c.log.Info("fleet applied", "classes", res.Classes, "models", res.Models)
	writeJSON(w, http.StatusOK, res)
}

// checkModelArtifacts requires every model of fleet to name, by digest, an artifact
// already in the model bucket. The error is a profiles.ErrorList.
func (c *Coordinator) checkModelArtifacts(ctx context.Context, fleet *profiles.Fleet) error {
	var list profiles.ErrorList
	var obs jetstream.ObjectStore
	for i, m := range fleet.Models {
		field := fmt.Sprintf("models[%d].digest", i)
		if m.Digest == "" {
			list = append(list, &profiles.FieldError{Field: field, Detail: "missing; upload the ONNX file first (`fleetprune apply` uploads a model's source file and fills this in)"})
			continue
		}
		if !profiles.ValidDigest(m.Digest) {
			continue // ParseFleet reported it
		}
		if obs == nil {
			var err error
			if obs, err = c.js.ObjectStore(ctx, fpv1.BucketModels); err != nil {
				list = append(list, &profiles.FieldError{Field: field, Detail: "model bucket is not ready (no leader yet?): " + err.Error()})
				continue
			}
		}
		if _, err := obs.GetInfo(ctx, m.Digest); err != nil {
			list = append(list, &profiles.FieldError{Field: field, Detail: fmt.Sprintf("no artifact %s in bucket %s; upload it first", m.Digest, fpv1.BucketModels)})
		}
	}
	if len(list) > 0 {
		return list
	}
	return nil
}

// handleUploadArtifact stores the request body in the model bucket under its
// SHA-256 and answers the digest.
func (c *Coordinator) handleUploadArtifact(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxArtifactBytes+1))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, APIError{Error: fmt.Sprintf("artifact is larger than %d bytes", MaxArtifactBytes)})
		return
	}
	if len(body) == 0 {
		writeError(w, http.StatusBadRequest, APIError{Error: "empty artifact; send the ONNX bytes as the request body"})
		return
	}
	if !looksLikeONNX(body) {
		writeError(w, http.StatusBadRequest, APIError{Error: "body is not an ONNX model (a protobuf ModelProto)"})
		return
	}
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	if err := c.putArtifact(r.Context(), digest, body); err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, ArtifactResult{SHA256: digest, SizeBytes: len(body)})
}

// looksLikeONNX checks the first protobuf tag of b: a ModelProto starts with one of
// its fields (ir_version = 1, opset_import = 8, producer_name = 2, graph = 7, ...),
// never with arbitrary text.
func looksLikeONNX(b []byte) bool {
	if len(b) < 2 || bytes.HasPrefix(b, []byte("{")) || bytes.HasPrefix(b, []byte("<")) {
		return false
	}
	tag := b[0]
	field, wire := tag>>3, tag&7
	return field >= 1 && field <= 20 && (wire == 0 || wire == 2)
}

func (c *Coordinator) handleClasses(w http.ResponseWriter, r *http.Request) {
	cl, err := c.Classes(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

func (c *Coordinator) handleDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := c.Devices(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	if class := r.URL.Query().Get("class"); class != "" {
		kept := ds[:0]
		for _, d := range ds {
			if d.Class == class {
				kept = append(kept, d)
			}
		}
		ds = kept
	}
	writeJSON(w, http.StatusOK, ds)
}

func (c *Coordinator) handleDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := profiles.ValidateName(id); err != nil {
		writeError(w, http.StatusBadRequest, APIError{Error: "device id: " + err.Error(), Field: "id"})
		return
	}
	d, err := c.Device(r.Context(), id)
	switch {
	case errors.Is(err, profiles.ErrNotFound):
		writeError(w, http.StatusNotFound, APIError{Error: fmt.Sprintf("no device %q is registered", id), Field: "id"})
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (c *Coordinator) handleModels(w http.ResponseWriter, r *http.Request) {
	ms, err := c.store.Models.List(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	if ms == nil {
		ms = []profiles.Model{}
	}
	writeJSON(w, http.StatusOK, ms)
}

func (c *Coordinator) handleVariants(w http.ResponseWriter, r *http.Request) {
	vs, err := c.Variants(r.Context(), r.URL.Query().Get("class"))
	switch {
	case errors.Is(err, profiles.ErrInvalid):
		writeError(w, http.StatusBadRequest, APIError{Error: err.Error(), Field: "class"})
		return
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, vs)
}

// LeaderStatus answers GET /api/v1/leader.
type LeaderStatus struct {
	Leader  string `json:"leader"`
	This    string `json:"this"`
	Leading bool   `json:"leading"`
}

func (c *Coordinator) handleLeader(w http.ResponseWriter, r *http.Request) {
	l, err := c.Leader(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, LeaderStatus{Leader: l, This: c.cfg.Name, Leading: c.IsLeader()})
}

func (c *Coordinator) writeNotLeader(ctx context.Context, w http.ResponseWriter) {
	l, _ := c.Leader(ctx)
	msg := "this coordinator is not the leader and cannot write; retry, or send the request to the leader"
	if l != "" {
		msg += " (" + l + ")"
	}
	writeError(w, http.StatusServiceUnavailable, APIError{Error: msg})
}

// writeInvalid answers 400 with every field error of err (a profiles.ErrorList).
func writeInvalid(w http.ResponseWriter, err error) {
	var list profiles.ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		writeError(w, http.StatusBadRequest, APIError{Error: err.Error()})
		return
	}
	e := APIError{Error: list.Error(), Field: list[0].Field}
	for _, fe := range list {
		msg := fe.Detail
		if fe.Line > 0 {
			msg = fmt.Sprintf("line %d: %s", fe.Line, fe.Detail)
		}
		e.Errors = append(e.Errors, FieldError{Field: fe.Field, Error: msg})
	}
	writeError(w, http.StatusBadRequest, e)
}
