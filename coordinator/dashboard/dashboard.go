package dashboard

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
)

//go:embed static
var staticFiles embed.FS

// server holds what the handlers share.
type server struct {
	cfg     config
	etcd    *clientv3.Client
	reader  *view.Reader
	actions Actions
	routes  []string
	// shutdowns maps each *http.Server seen to a context that ends at its Shutdown.
	shutdowns sync.Map
}

// New returns the dashboard's handler: the single-page app at / and /assets/, the
// OpenAPI document at /api/openapi.json, server-sent events at /api/v1/events and
// the read and action endpoints listed in that document. It reads state from etcd;
// actions (nil: every action answers 503) writes the operators' decisions. Requests it
// does not serve go to the API given with WithAPI, else get a JSON 404.
func New(etcd *clientv3.Client, actions Actions, opts ...Option) http.Handler {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	s := &server{cfg: cfg, etcd: etcd, reader: view.NewReader(etcd, cfg.staleAfter), actions: actions}
	return s.mux()
}

// Routes returns the patterns the dashboard serves (net/http ServeMux syntax), beside
// /assets/ and the fallback to the coordinator's API.
func Routes() []string {
	s := &server{cfg: defaultConfig()}
	s.mux()
	return append([]string(nil), s.routes...)
}

func (s *server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		s.routes = append(s.routes, pattern)
		mux.HandleFunc(pattern, h)
	}
	assets, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(fmt.Sprintf("dashboard: embedded assets: %v", err)) // the embed pattern guarantees the folder
	}
	handle("GET /{$}", s.handleIndex)
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	handle("GET /api/openapi.json", s.handleOpenAPI)
	handle("GET /api/v1/events", s.handleEvents)
	handle("GET /api/v1/overview", s.handleOverview)
	handle("GET /api/v1/classes/{class}/devices", s.handleClassDevices)
	handle("GET /api/v1/classes/{class}/tuning", s.handleTuning)
	handle("GET /api/v1/classes/{class}/variants", s.handleClassVariants)
	handle("GET /api/v1/classes/{class}/pareto.svg", s.handleParetoSVG)
	handle("GET /api/v1/classes/{class}/report", s.handleReport)
	handle("POST /api/v1/classes/{class}/retune", s.handleRetune)
	handle("GET /api/v1/models/{model}/sensitivity", s.handleSensitivity)
	handle("GET /api/v1/models/{model}/sensitivity.svg", s.handleSensitivitySVG)
	handle("GET /api/v1/rollouts", s.handleRollouts)
	handle("GET /api/v1/rollouts/{class}/{id}", s.handleRollout)
	handle("POST /api/v1/rollouts/{class}/{id}/{action}", s.handleRolloutAction)
	fallback := s.cfg.api
	if fallback == nil {
		fallback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path))
		})
	}
	mux.Handle("/", fallback)
	return mux
}

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	b, err := staticFiles.ReadFile("static/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "", "dashboard: index.html missing from the build")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
