package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/untrackd/untrackd/cmd/internal/cliconf"
	"github.com/untrackd/untrackd/cmd/internal/etcdflags"
)

// errUsage reports a command-line error already printed by the flag package.
var errUsage = cliconf.ErrUsage

// config is the daemon's local configuration: flags, UNTRACKD_* environment
// variables and the optional --config-file, in that order of precedence
// (see docs/configuration.md). Settings marked "live" below can also come
// from FelixConfiguration resources when no local source sets them; see
// felixconfig.go.
type config struct {
	ConfigFile      string
	Etcd            *etcdflags.Flags
	NodeName        string
	LogLevel        levelValue // live: logSeverityScreen
	LogFormat       choiceValue
	EmbeddedEtcdDir string
	// RefreshInterval is read once, when the datastore is first in sync:
	// nftablesRefreshInterval.
	RefreshInterval time.Duration
	ApplyRetryMax   time.Duration
	MarkAllow       markValue
	MarkPass        markValue
	MarkAccept      markValue
	HealthEnabled   bool      // live: healthEnabled
	HealthHost      string    // live: healthHost
	HealthPort      portValue // live: healthPort
	MetricsEnabled  bool      // live: prometheusMetricsEnabled
	MetricsHost     string    // live: prometheusMetricsHost
	MetricsPort     portValue // live: prometheusMetricsPort
	GoMetrics       bool      // live: prometheusGoMetricsEnabled
	ProcessMetrics  bool      // live: prometheusProcessMetricsEnabled
	LivenessTimeout time.Duration
	GCPercent       int

	origins *cliconf.Origins
}

// Flag names of the settings FelixConfiguration can also set.
const (
	flagLogLevel        = "log-level"
	flagRefreshInterval = "dataplane-refresh-interval"
	flagHealthEnabled   = "health-enabled"
	flagHealthHost      = "health-host"
	flagHealthPort      = "health-port"
	flagMetricsEnabled  = "prometheus-metrics-enabled"
	flagMetricsHost     = "prometheus-metrics-host"
	flagMetricsPort     = "prometheus-metrics-port"
	flagGoMetrics       = "prometheus-go-metrics-enabled"
	flagProcessMetrics  = "prometheus-process-metrics-enabled"
	flagGCPercent       = "gc-percent"
)

// defaultGCPercent is untrackd's GOGC. Most of its heap lives as long as
// the process (the datastore's resources, IP set members), and it
// allocates little between changes, so collecting at 40% growth instead
// of Go's 100% costs little CPU and keeps the peak near the live size: at
// 10,000 endpoints, 2,000 policies and 100,000 networks, peak RSS 140 MB
// instead of 172 MB, with change latency unchanged (docs/benchmarks.md).
const defaultGCPercent = 40

// defineFlags returns the daemon's flag set and the config it fills.
func defineFlags(name string) (*flag.FlagSet, *config) {
	c := &config{LogLevel: levelValue(zapcore.InfoLevel), LogFormat: choiceValue{"console", []string{"console", "json"}},
		MarkAllow: 0x10000000, MarkPass: 0x20000000, MarkAccept: 0x40000000, HealthPort: 9099, MetricsPort: 9091}
	fs := flag.NewFlagSet("untrackd "+name, flag.ContinueOnError)
	host, _ := os.Hostname()
	fs.StringVar(&c.ConfigFile, "config-file", "", "YAML file of settings, keyed by flag name in camel case (healthPort: 9099); flags and environment win over it")
	c.Etcd = etcdflags.Register(fs)
	fs.StringVar(&c.NodeName, "node-name", host, "this node's name, as in HostEndpoint spec.node")
	fs.Var(&c.LogLevel, flagLogLevel, "log `level`: debug, info (default), warn, error, or Felix's names; when not set locally, FelixConfiguration logSeverityScreen applies")
	fs.Var(&c.LogFormat, "log-format", "log `format`: console or json")
	fs.StringVar(&c.EmbeddedEtcdDir, "embedded-etcd-dir", "", "run a single-member etcd in-process on 127.0.0.1:2379 with its data in this directory (single-host use)")
	fs.DurationVar(&c.RefreshInterval, flagRefreshInterval, 90*time.Second, "how often to re-read the kernel and repair any difference (0 disables)")
	fs.DurationVar(&c.ApplyRetryMax, "apply-retry-max", 30*time.Second, "longest wait between retries of a failed kernel update")
	fs.Var(&c.MarkAllow, "mark-allow", "packet-mark `bit` set on packets untracked policy allowed")
	fs.Var(&c.MarkPass, "mark-pass", "packet-mark `bit` used for Pass rules")
	fs.Var(&c.MarkAccept, "mark-accept", "packet-mark `bit` a normal policy's Allow sets for its host endpoint chain")
	fs.BoolVar(&c.HealthEnabled, flagHealthEnabled, true, "serve /liveness, /readiness and /status")
	fs.StringVar(&c.HealthHost, flagHealthHost, "127.0.0.1", "address the health server binds to (empty: all)")
	fs.Var(&c.HealthPort, flagHealthPort, "TCP `port` of the health server")
	fs.BoolVar(&c.MetricsEnabled, flagMetricsEnabled, true, "serve Prometheus metrics on /metrics")
	fs.StringVar(&c.MetricsHost, flagMetricsHost, "127.0.0.1", "address the metrics server binds to (empty: all)")
	fs.Var(&c.MetricsPort, flagMetricsPort, "TCP `port` of the metrics server")
	fs.BoolVar(&c.GoMetrics, flagGoMetrics, true, "export Go runtime metrics (go_*)")
	fs.BoolVar(&c.ProcessMetrics, flagProcessMetrics, true, "export process metrics (process_*)")
	fs.DurationVar(&c.LivenessTimeout, "liveness-timeout", 90*time.Second, "report not live when work has waited this long (see docs/operations.md)")
	fs.IntVar(&c.GCPercent, flagGCPercent, defaultGCPercent, "Go garbage collector target: the heap may grow this many percent over live data before a collection (GOGC); the GOGC environment variable applies instead when this is not set")
	return fs, c
}

// parseConfig parses args with environment and config-file fallbacks.
func parseConfig(name string, args []string) (*config, error) {
	fs, c := defineFlags(name)
	o, err := cliconf.Parse(fs, args, "config-file")
	if err != nil {
		return nil, err
	}
	c.origins = o
	return c, c.validate()
}

// validate checks settings against each other; the errors name where the
// values came from.
func (c *config) validate() error {
	o := c.origins
	switch {
	case c.NodeName == "":
		return fmt.Errorf("%s: the node name is empty and the hostname is unknown", o.Describe("node-name"))
	case c.MarkPass == c.MarkAllow:
		return fmt.Errorf("%s: %s must be a single bit other than %s", o.Describe("mark-pass"), c.MarkPass.String(), o.Describe("mark-allow"))
	case c.MarkAccept == c.MarkAllow || c.MarkAccept == c.MarkPass:
		return fmt.Errorf("%s: %s must be a single bit other than %s and %s", o.Describe("mark-accept"), c.MarkAccept.String(), o.Describe("mark-allow"), o.Describe("mark-pass"))
	case c.RefreshInterval < 0:
		return fmt.Errorf("%s: must not be negative", o.Describe(flagRefreshInterval))
	case c.ApplyRetryMax <= 0:
		return fmt.Errorf("%s: must be positive", o.Describe("apply-retry-max"))
	case c.GCPercent < 1:
		return fmt.Errorf("%s: %d must be at least 1", o.Describe(flagGCPercent), c.GCPercent)
	case c.LivenessTimeout < time.Second:
		return fmt.Errorf("%s: %v is too short (at least 1s)", o.Describe("liveness-timeout"), c.LivenessTimeout)
	}
	if c.EmbeddedEtcdDir == "" {
		return c.Etcd.Validate(o)
	}
	if c.Etcd.Cert != "" || c.Etcd.Key != "" || c.Etcd.CACert != "" {
		return errors.New("--embedded-etcd-dir serves plain-text etcd on 127.0.0.1; the --etcd-* TLS files do not apply")
	}
	return nil
}

// listenAddr joins a host and a port for net.Listen ("" host: all).
func listenAddr(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
