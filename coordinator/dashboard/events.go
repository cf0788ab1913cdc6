package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/fleetprune/fleetprune/profiles"
)

// handleEvents streams server-sent events: "hello" with the current etcd revision at
// once, then "change" with the newest revision whenever state under the fleetprune
// prefix changes (bursts coalesced), and a keepalive comment when idle. It returns
// when the client goes away, the handler's context (WithContext) ends, or the etcd
// watch fails (the browser's EventSource reconnects).
func (s *server) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "", "streaming is not supported by this connection")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.cfg.base, cancel)
	defer stop()
	if sctx := s.shutdownCtx(r); sctx != nil {
		stopOnShutdown := context.AfterFunc(sctx, cancel)
		defer stopOnShutdown()
	}

	// The watch starts before hello is sent, so no change between the two is lost.
	wctx := clientv3.WithRequireLeader(ctx)
	wch := s.etcd.Watch(wctx, profiles.Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	rev := int64(0)
	if resp, err := s.etcd.Get(ctx, profiles.Prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
		rev = resp.Header.GetRevision()
	} else {
		writeError(w, http.StatusServiceUnavailable, "", "events: etcd unreachable: "+err.Error())
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if !s.send(w, flusher, "hello", rev) {
		return
	}

	keepalive := time.NewTicker(s.cfg.keepalive)
	defer keepalive.Stop()
	var (
		pending  bool
		lastSent time.Time
		flush    <-chan time.Time
		timer    *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case wr, ok := <-wch:
			if !ok {
				return
			}
			if err := wr.Err(); err != nil {
				s.cfg.log.Debug("dashboard: events watch ended", "err", err)
				return
			}
			if wr.Header.GetRevision() > rev {
				rev = wr.Header.GetRevision()
			}
			if len(wr.Events) == 0 || pending {
				continue
			}
			wait := s.cfg.coalesce - time.Since(lastSent)
			if wait <= 0 {
				if !s.send(w, flusher, "change", rev) {
					return
				}
				lastSent = time.Now()
				continue
			}
			pending = true
			timer = time.NewTimer(wait)
			flush = timer.C
		case <-flush:
			pending, flush, timer = false, nil, nil
			if !s.send(w, flusher, "change", rev) {
				return
			}
			lastSent = time.Now()
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		}
	}
}

// send writes one event; false means the client is gone.
func (s *server) send(w http.ResponseWriter, f http.Flusher, event string, rev int64) bool {
	if _, err := fmt.Fprintf(w, "event: %s\ndata: {\"revision\":%d}\n\n", event, rev); err != nil {
		return false
	}
	f.Flush()
	return true
}

// shutdownCtx returns a context that ends when the http.Server serving r starts
// shutting down, so that Shutdown is not held by open streams (it waits for active
// requests otherwise). It registers one OnShutdown function per server.
func (s *server) shutdownCtx(r *http.Request) context.Context {
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if hs == nil {
		return nil
	}
	if v, ok := s.shutdowns.Load(hs); ok {
		return v.(context.Context)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if v, loaded := s.shutdowns.LoadOrStore(hs, ctx); loaded {
		cancel()
		return v.(context.Context)
	}
	hs.RegisterOnShutdown(cancel)
	return ctx
}
