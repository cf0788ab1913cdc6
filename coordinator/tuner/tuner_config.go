package tuner

import (
	"log/slog"
	"time"

	"github.com/fleetprune/fleetprune/coordinator/tuning"
)

// Config tunes the reconciler. Zero fields take the defaults.
type Config struct {
	// ProbeSize is how many devices of a class benchmark each variant.
	ProbeSize int
	// WarmupRuns and TimedRuns are sent with every benchmark command.
	WarmupRuns, TimedRuns int
	// ReportTimeout is how long a probe cohort may take to report before the
	// commands are sent again.
	ReportTimeout time.Duration
	// Poll is the requeue delay while waiting for devices or reports.
	Poll time.Duration
	// Headroom is the share of a class's p95 SLO an accepted variant must leave free
	// (tuning.Limits.Headroom); 0 means DefaultHeadroom, a negative value none.
	Headroom float64
	Search   tuning.SearchConfig
	Log      *slog.Logger
}

// Defaults of Config.
const (
	DefaultProbeSize     = 2
	DefaultWarmupRuns    = 20
	DefaultTimedRuns     = 300
	DefaultReportTimeout = 2 * time.Minute
	DefaultPoll          = 500 * time.Millisecond
	// DefaultHeadroom: tuning aims at 90% of the p95 SLO, the gates judge all of it.
	DefaultHeadroom = 0.1
)

func (c Config) withDefaults() Config {
	if c.ProbeSize <= 0 {
		c.ProbeSize = DefaultProbeSize
	}
	if c.WarmupRuns <= 0 {
		c.WarmupRuns = DefaultWarmupRuns
	}
	if c.TimedRuns <= 0 {
		c.TimedRuns = DefaultTimedRuns
	}
	if c.ReportTimeout <= 0 {
		c.ReportTimeout = DefaultReportTimeout
	}
	if c.Poll <= 0 {
		c.Poll = DefaultPoll
	}
	switch {
	case c.Headroom == 0:
		c.Headroom = DefaultHeadroom
	case c.Headroom < 0:
		c.Headroom = 0
	case c.Headroom > 0.5:
		c.Headroom = 0.5
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}
