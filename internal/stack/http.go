package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// listen opens addr for h.
func listen(addr string, h http.Handler) (*http.Server, net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: http: listen on %s: %w", addr, err)
	}
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// serve serves until ctx ends, then shuts down, letting requests in flight finish.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger) {
	// Requests derive from ctx, so long-lived ones (server-sent events) end with it.
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "err", err)
		}
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	<-errc
}
