package main

import (
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/untrackd/untrackd/model"
)

// setting is the effective value of one setting and where it came from:
// "--health-port", "UNTRACKD_HEALTH_PORT", "config file …: healthPort",
// "FelixConfiguration node.<name>", "FelixConfiguration default" or
// "default".
type setting[T comparable] struct {
	Value T      `json:"value"`
	From  string `json:"from"`
}

// runtimeConfig holds the settings that FelixConfiguration can set too.
// For each, a local source (flag, environment, config file) wins; else the
// FelixConfiguration "node.<name>", else "default"; else the built-in
// default. All apply live except RefreshInterval, which is read once when
// the datastore is first in sync.
type runtimeConfig struct {
	LogLevel        setting[zapcore.Level]
	HealthEnabled   setting[bool]
	HealthHost      setting[string]
	HealthPort      setting[int]
	MetricsEnabled  setting[bool]
	MetricsHost     setting[string]
	MetricsPort     setting[int]
	GoMetrics       setting[bool]
	ProcessMetrics  setting[bool]
	RefreshInterval setting[time.Duration]
}

// healthAddr is where the health server should listen ("" when disabled).
func (r runtimeConfig) healthAddr() string {
	if !r.HealthEnabled.Value {
		return ""
	}
	return listenAddr(r.HealthHost.Value, r.HealthPort.Value)
}

// metricsAddr is where the metrics server should listen ("" when disabled).
func (r runtimeConfig) metricsAddr() string {
	if !r.MetricsEnabled.Value {
		return ""
	}
	return listenAddr(r.MetricsHost.Value, r.MetricsPort.Value)
}

// felixConfigs holds the two FelixConfiguration resources untrackd reads:
// "default" and "node.<node name>". It is not safe for concurrent use.
type felixConfigs struct {
	node string
	def  *model.FelixConfigurationSpec
	own  *model.FelixConfigurationSpec
}

// update records the new state of a datastore key (nil: absent) and
// reports whether it was one of the two resources.
func (f *felixConfigs) update(key model.Key, v model.Resource) bool {
	if key.Kind != model.KindFelixConfiguration {
		return false
	}
	var spec *model.FelixConfigurationSpec
	if fc, ok := v.(*model.FelixConfiguration); ok && fc != nil {
		spec = &fc.Spec
	}
	switch key.Name {
	case "default":
		f.def = spec
	case "node." + f.node:
		f.own = spec
	default:
		return false
	}
	return true
}

// resolve returns the effective settings from the local configuration c and
// the FelixConfigurations f (nil: none known yet).
func resolve(c *config, f *felixConfigs) runtimeConfig {
	type spec = model.FelixConfigurationSpec
	return runtimeConfig{
		LogLevel: pick(c, f, flagLogLevel, zapcore.Level(c.LogLevel), func(s *spec) (zapcore.Level, bool) {
			l, err := parseLevel(s.LogSeverityScreen)
			return l, s.LogSeverityScreen != "" && err == nil
		}),
		HealthEnabled: pick(c, f, flagHealthEnabled, c.HealthEnabled, func(s *spec) (bool, bool) { return deref(s.HealthEnabled) }),
		HealthHost:    pick(c, f, flagHealthHost, c.HealthHost, func(s *spec) (string, bool) { return deref(s.HealthHost) }),
		HealthPort:    pick(c, f, flagHealthPort, int(c.HealthPort), func(s *spec) (int, bool) { return deref(s.HealthPort) }),
		MetricsEnabled: pick(c, f, flagMetricsEnabled, c.MetricsEnabled, func(s *spec) (bool, bool) {
			return deref(s.PrometheusMetricsEnabled)
		}),
		MetricsHost: pick(c, f, flagMetricsHost, c.MetricsHost, func(s *spec) (string, bool) {
			return s.PrometheusMetricsHost, s.PrometheusMetricsHost != ""
		}),
		MetricsPort:    pick(c, f, flagMetricsPort, int(c.MetricsPort), func(s *spec) (int, bool) { return deref(s.PrometheusMetricsPort) }),
		GoMetrics:      pick(c, f, flagGoMetrics, c.GoMetrics, func(s *spec) (bool, bool) { return deref(s.PrometheusGoMetricsEnabled) }),
		ProcessMetrics: pick(c, f, flagProcessMetrics, c.ProcessMetrics, func(s *spec) (bool, bool) { return deref(s.PrometheusProcessMetricsEnabled) }),
		RefreshInterval: pick(c, f, flagRefreshInterval, c.RefreshInterval, func(s *spec) (time.Duration, bool) {
			if s.NftablesRefreshInterval == nil {
				return 0, false
			}
			d, err := time.ParseDuration(*s.NftablesRefreshInterval)
			return d, err == nil && d >= 0
		}),
	}
}

// pick resolves one setting: the local value if a flag, the environment or
// the config file set it; else the node's FelixConfiguration, else the
// default one, if they set it; else the local (default) value.
func pick[T comparable](c *config, f *felixConfigs, flagName string, local T, field func(*model.FelixConfigurationSpec) (T, bool)) setting[T] {
	if c.origins != nil && c.origins.Local(flagName) {
		return setting[T]{local, c.origins.Describe(flagName)}
	}
	if f != nil {
		for _, src := range []struct {
			name string
			spec *model.FelixConfigurationSpec
		}{{"FelixConfiguration node." + f.node, f.own}, {"FelixConfiguration default", f.def}} {
			if src.spec == nil {
				continue
			}
			if v, ok := field(src.spec); ok {
				return setting[T]{v, src.name}
			}
		}
	}
	return setting[T]{local, "default"}
}

func deref[T any](p *T) (T, bool) {
	if p == nil {
		var zero T
		return zero, false
	}
	return *p, true
}
