package datastore

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// quiet returns log named name and limited to level and above, for the etcd
// client and server, which are chatty.
func quiet(log *zap.Logger, name string, level zapcore.Level) *zap.Logger {
	if log == nil {
		return zap.NewNop()
	}
	log = log.Named(name)
	if !log.Core().Enabled(level) {
		return log // already quieter; IncreaseLevel would fail
	}
	return log.WithOptions(zap.IncreaseLevel(level))
}

// shutdownFilter drops the errors an embedded etcd logs about its own
// listeners closing, once Close has begun: they are expected then.
type shutdownFilter struct {
	zapcore.Core
	closing *atomic.Bool
}

const msgServeFailed = "setting up serving from embedded etcd failed."

func (f shutdownFilter) With(fields []zapcore.Field) zapcore.Core {
	return shutdownFilter{Core: f.Core.With(fields), closing: f.closing}
}

func (f shutdownFilter) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if e.Message == msgServeFailed && f.closing.Load() {
		return ce
	}
	if f.Enabled(e.Level) {
		return ce.AddCore(e, f)
	}
	return ce
}
