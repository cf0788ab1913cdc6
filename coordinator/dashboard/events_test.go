package dashboard_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard"
	"github.com/fleetprune/fleetprune/internal/testutil"
)

// sse reads server-sent events from one stream.
type sse struct {
	resp *http.Response
	r    *bufio.Reader
}

func openEvents(t *testing.T, ctx context.Context, url string) *sse {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/api/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sse{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's name and data, or "comment" for a keepalive.
func (s *sse) next() (event, data string, err error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", "", err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, ":"):
			event = "comment"
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "" && event != "":
			return event, data, nil
		}
	}
}

// countInFlight wraps h to count requests being served.
func countInFlight(h http.Handler, n *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		defer n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

func TestEvents(t *testing.T) {
	fx := newFixture(t)
	var inFlight atomic.Int32
	srv := httptest.NewServer(countInFlight(dashboard.New(fx.cli, fx.actions,
		dashboard.WithKeepalive(100*time.Millisecond), dashboard.WithCoalesce(50*time.Millisecond)), &inFlight))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openEvents(t, ctx, srv.URL)
	ev, data, err := s.next()
	if err != nil || ev != "hello" || !strings.Contains(data, `"revision"`) {
		t.Fatalf("first event: %q %q %v, want hello with a revision", ev, data, err)
	}

	// A keepalive arrives while nothing changes.
	if ev, _, err = s.next(); err != nil || ev != "comment" {
		t.Fatalf("idle stream: got %q %v, want a keepalive comment", ev, err)
	}

	// A burst of writes becomes change events carrying the newest revision.
	code, b := call(t, srv, "POST", "/api/v1/rollouts/edge/r1/pause", "")
	if code != 200 {
		t.Fatalf("pause: %d %s", code, b)
	}
	rev := fx.revision(t)
	for {
		ev, data, err = s.next()
		if err != nil {
			t.Fatalf("waiting for change: %v", err)
		}
		if ev == "change" && strings.Contains(data, `"revision":`+itoa(rev)) {
			break
		}
	}

	// The client going away ends the handler.
	cancel()
	testutil.WaitFor(t, 5*time.Second, func() bool { return inFlight.Load() == 0 })
}

// TestEventsEndWithContext: ending the handler's context closes open streams, so a
// server shutting down is not held by browsers.
func TestEventsEndWithContext(t *testing.T) {
	fx := newFixture(t)
	base, stop := context.WithCancel(context.Background())
	var inFlight atomic.Int32
	srv := httptest.NewServer(countInFlight(dashboard.New(fx.cli, nil, dashboard.WithContext(base)), &inFlight))
	defer srv.Close()
	s := openEvents(t, context.Background(), srv.URL)
	if ev, _, err := s.next(); err != nil || ev != "hello" {
		t.Fatalf("first event: %q %v", ev, err)
	}
	stop()
	for {
		if _, _, err := s.next(); err != nil {
			break // the stream ended
		}
	}
	testutil.WaitFor(t, 5*time.Second, func() bool { return inFlight.Load() == 0 })
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestEventsEndOnShutdown: http.Server.Shutdown completes with streams open, without
// WithContext: the streams end when shutdown starts.
func TestEventsEndOnShutdown(t *testing.T) {
	fx := newFixture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: dashboard.New(fx.cli, nil), ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	for i := 0; i < 2; i++ {
		s := openEvents(t, context.Background(), "http://"+ln.Addr().String())
		if ev, _, err := s.next(); err != nil || ev != "hello" {
			t.Fatalf("stream %d: first event %q %v", i, ev, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown with open streams: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("serve: %v", err)
	}
}
