package dashboard

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/fleetprune/fleetprune/coordinator/report"
	"github.com/fleetprune/fleetprune/profiles"
)

// pathName returns the path parameter key, answering 404 when it is not a valid
// name (no record can have it).
func pathName(w http.ResponseWriter, r *http.Request, key string) (string, bool) {
	v := r.PathValue(key)
	if err := profiles.ValidateName(v); err != nil {
		writeError(w, http.StatusNotFound, key, fmt.Sprintf("%s %q: %v", key, v, err))
		return "", false
	}
	return v, true
}

func (s *server) handleOverview(w http.ResponseWriter, r *http.Request) {
	o, err := s.reader.Overview(r.Context())
	if err != nil {
		writeReadError(w, "", err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (s *server) handleClassDevices(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	ds, err := s.reader.Devices(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *server) handleTuning(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	tv, err := s.reader.Tuning(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	writeJSON(w, http.StatusOK, tv)
}

func (s *server) handleClassVariants(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	vs, err := s.reader.Variants(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	writeJSON(w, http.StatusOK, vs)
}

func (s *server) handleParetoSVG(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	tv, err := s.reader.Tuning(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	writeSVG(w, report.ParetoSVG(tv))
}

func (s *server) handleSensitivity(w http.ResponseWriter, r *http.Request) {
	model, ok := pathName(w, r, "model")
	if !ok {
		return
	}
	c, err := s.reader.Sensitivity(r.Context(), model)
	if err != nil {
		writeReadError(w, "model", err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *server) handleSensitivitySVG(w http.ResponseWriter, r *http.Request) {
	model, ok := pathName(w, r, "model")
	if !ok {
		return
	}
	c, err := s.reader.Sensitivity(r.Context(), model)
	if err != nil {
		writeReadError(w, "model", err)
		return
	}
	writeSVG(w, report.SensitivitySVG(c))
}

func (s *server) handleReport(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	rep, err := s.reader.ClassReport(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, rep); err != nil {
		s.cfg.log.Warn("dashboard: render report", "class", class, "err", err)
		writeError(w, http.StatusInternalServerError, "", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "fleetprune-"+class+".html"))
	}
	_, _ = buf.WriteTo(w)
}

func (s *server) handleRollouts(w http.ResponseWriter, r *http.Request) {
	class := r.URL.Query().Get("class")
	if class != "" {
		if err := profiles.ValidateName(class); err != nil {
			writeError(w, http.StatusBadRequest, "class", fmt.Sprintf("class %q: %v", class, err))
			return
		}
	}
	rs, err := s.reader.Rollouts(r.Context(), class)
	if err != nil {
		writeReadError(w, "class", err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

func (s *server) handleRollout(w http.ResponseWriter, r *http.Request) {
	class, ok := pathName(w, r, "class")
	if !ok {
		return
	}
	id, ok := pathName(w, r, "id")
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
	writeJSON(w, http.StatusOK, ro)
}

func writeSVG(w http.ResponseWriter, svg string) {
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(svg))
}
