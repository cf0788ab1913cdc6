package dashboard

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/dashboard/view"
)

// Defaults of the dashboard handler.
const (
	// DefaultKeepalive is how often an idle event stream sends a comment, so proxies
	// and browsers keep it open.
	DefaultKeepalive = 15 * time.Second
	// DefaultCoalesce is the least time between two change events of one stream: a
	// burst of etcd writes becomes one refresh.
	DefaultCoalesce = 250 * time.Millisecond
	// MaxActionBody bounds the JSON body of an action request.
	MaxActionBody = 16 << 10
)

type config struct {
	staleAfter time.Duration
	keepalive  time.Duration
	coalesce   time.Duration
	log        *slog.Logger
	api        http.Handler
	base       context.Context
}

func defaultConfig() config {
	return config{
		staleAfter: view.DefaultStaleAfter,
		keepalive:  DefaultKeepalive,
		coalesce:   DefaultCoalesce,
		log:        slog.Default(),
		base:       context.Background(),
	}
}

// Option configures New.
type Option func(*config)

// WithStaleAfter sets the silence after which a device shows as stale; use the
// coordinator's StaleAfter.
func WithStaleAfter(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.staleAfter = d
		}
	}
}

// WithKeepalive sets how often an idle event stream sends a keepalive comment.
func WithKeepalive(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.keepalive = d
		}
	}
}

// WithCoalesce sets the least time between two change events of one stream.
func WithCoalesce(d time.Duration) Option {
	return func(c *config) {
		if d >= 0 {
			c.coalesce = d
		}
	}
}

// WithLogger sets the logger of the handler.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithAPI passes every request the dashboard does not serve to api, the
// coordinator's Handler(): one handler then serves the dashboard and the whole API.
// Without it such requests get a JSON 404.
func WithAPI(api http.Handler) Option {
	return func(c *config) { c.api = api }
}

// WithContext ends every open event stream when ctx ends. Streams also end when the
// http.Server serving them starts Shutdown (through RegisterOnShutdown); use this for
// servers that are closed otherwise.
func WithContext(ctx context.Context) Option {
	return func(c *config) {
		if ctx != nil {
			c.base = ctx
		}
	}
}
