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
	Poll   time.Duration
	Search tuning.SearchConfig
	Log    *slog.Logger
}

// Defaults of Config.
const (
	DefaultProbeSize     = 2
	DefaultWarmupRuns    = 20
	DefaultTimedRuns     = 300
	DefaultReportTimeout = 2 * time.Minute
	DefaultPoll          = 500 * time.Millisecond
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
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}
