package embedded

import (
	"fmt"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newEtcdLogger builds etcd's zap logger: JSON lines on stderr at level, silenced
// once closing is set, because etcd logs the listeners it closes on shutdown as
// errors.
func newEtcdLogger(level string, closing *atomic.Bool) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: log level %q: %w", level, err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	cfg.Sampling = nil
	lg, err := cfg.Build(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return quietOnClose{Core: c, closing: closing}
	}))
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: logger: %w", err)
	}
	return lg, nil
}

// quietOnClose drops every entry once closing is set.
type quietOnClose struct {
	zapcore.Core
	closing *atomic.Bool
}

func (q quietOnClose) With(fields []zapcore.Field) zapcore.Core {
	return quietOnClose{Core: q.Core.With(fields), closing: q.closing}
}

func (q quietOnClose) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if q.closing.Load() {
		return ce
	}
	return q.Core.Check(e, ce)
}
