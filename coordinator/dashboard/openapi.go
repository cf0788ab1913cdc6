package dashboard

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3 document of the coordinator's HTTP API: the coordinator's
// own endpoints and the dashboard's, served at /api/openapi.json.
//
//go:embed openapi.json
var OpenAPI []byte

func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(OpenAPI)
}
