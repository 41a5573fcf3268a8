package main

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the process logger: structured, "console" (human) or
// "json" lines on stderr. The returned level can be changed at run time
// (FelixConfiguration logSeverityScreen, see felixconfig.go).
func newLogger(level zapcore.Level, format string) (*zap.Logger, zap.AtomicLevel, error) {
	lvl := zap.NewAtomicLevelAt(level)
	var cfg zap.Config
	if format == "json" {
		cfg = zap.NewProductionConfig()
	} else {
		cfg = zap.NewDevelopmentConfig()
		cfg.Development = false
		cfg.EncoderConfig.EncodeLevel = zapcore.CapitalLevelEncoder
		cfg.DisableStacktrace = true
	}
	cfg.Level = lvl
	cfg.Sampling = nil
	log, err := cfg.Build()
	if err != nil {
		return nil, lvl, fmt.Errorf("build logger: %w", err)
	}
	return log, lvl, nil
}
