package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// APIError is the JSON body of every error answer of the HTTP API.
type APIError struct {
	// Error says what is wrong and, where it can, what to do.
	Error string `json:"error"`
	// Field is the field path at fault, when one is.
	Field string `json:"field,omitempty"`
	// Errors lists every error when there are several (such as an invalid fleet
	// document), each with its field path.
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one error of a request, at a field path.
type FieldError struct {
	Field string `json:"field"`
	Error string `json:"error"`
}

// Handler returns the HTTP API: the fleet endpoints under /api/v1, /healthz and
// /metrics.
func (c *Coordinator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/apply", c.handleApply)
	mux.HandleFunc("POST /api/v1/artifacts", c.handleUploadArtifact)
	mux.HandleFunc("GET /api/v1/classes", c.handleClasses)
	mux.HandleFunc("GET /api/v1/devices", c.handleDevices)
	mux.HandleFunc("GET /api/v1/devices/{id}", c.handleDevice)
	mux.HandleFunc("GET /api/v1/models", c.handleModels)
	mux.HandleFunc("GET /api/v1/variants", c.handleVariants)
	mux.HandleFunc("GET /api/v1/leader", c.handleLeader)
	mux.HandleFunc("GET /healthz", c.handleHealthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.gather, promhttp.HandlerOpts{}))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, APIError{Error: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func (c *Coordinator) listenAPI() (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", c.cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("http api: listen on %s: %w", c.cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           c.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	c.mu.Lock()
	c.apiAddr = ln.Addr().String()
	c.mu.Unlock()
	c.log.Info("http api listening", "addr", ln.Addr().String())
	return srv, ln, nil
}

// APIAddr returns the address the HTTP API listens on ("" before Run starts it).
func (c *Coordinator) APIAddr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apiAddr
}

// serveAPI serves until ctx ends, then shuts down gracefully.
func (c *Coordinator) serveAPI(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http api: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http api: %w", err)
	}
	return nil
}

func (c *Coordinator) handleHealthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := c.etcd.Get(ctx, LeaderPrefix, clientv3.WithCountOnly()); err != nil {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: "etcd unreachable: " + err.Error()})
		return
	}
	if !c.nc.IsConnected() {
		writeError(w, http.StatusServiceUnavailable, APIError{Error: "nats disconnected"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "leader": c.IsLeader(), "servingAgents": c.serving.Load(), "name": c.cfg.Name})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, e APIError) {
	writeJSON(w, status, e)
}
