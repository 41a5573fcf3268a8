package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/untrackd/untrackd/cmd/internal/cliconf"
)

func TestConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "untrackd.yaml")
	if err := os.WriteFile(file, []byte("nodeName: from-file\nhealthPort: 9199\nlogFormat: json\nprometheusMetricsEnabled: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UNTRACKD_NODE_NAME", "from-env")
	t.Setenv("UNTRACKD_ETCD_ENDPOINTS", "http://a:2379, http://b:2379")
	t.Setenv("UNTRACKD_DATAPLANE_REFRESH_INTERVAL", "5s")
	t.Setenv("UNTRACKD_HEALTH_PORT", "9299")
	c, err := parseConfig("run", []string{"--node-name", "from-flag", "--config-file", file})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "from-flag" {
		t.Errorf("node name %q: the flag must win over the environment and the file", c.NodeName)
	}
	if strings.Join(c.Etcd.Endpoints(), ",") != "http://a:2379,http://b:2379" {
		t.Errorf("endpoints %v", c.Etcd.Endpoints())
	}
	if c.RefreshInterval != 5*time.Second {
		t.Errorf("refresh interval %v", c.RefreshInterval)
	}
	if c.HealthPort != 9299 {
		t.Errorf("health port %d: the environment must win over the file", c.HealthPort)
	}
	if c.LogFormat.String() != "json" || c.MetricsEnabled {
		t.Errorf("log format %q, metrics %v: the file must win over defaults", c.LogFormat.String(), c.MetricsEnabled)
	}
	if c.origins.Source("log-level") != cliconf.Default || zapLevel(c.LogLevel) != zapcore.InfoLevel {
		t.Errorf("log level %v from %v", c.LogLevel, c.origins.Source("log-level"))
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--etcd-cert", "c.pem"}, nil, "--etcd-cert and --etcd-key (default) must be given together"},
		{nil, map[string]string{"UNTRACKD_MARK_ALLOW": "3"}, `UNTRACKD_MARK_ALLOW="3": "3" is not a single bit`},
		{[]string{"--mark-pass", "0x10000000"}, nil, "--mark-pass: 0x10000000 must be a single bit other than --mark-allow (default)"},
		{[]string{"--log-format", "xml"}, nil, "usage"},
		{nil, map[string]string{"UNTRACKD_LOG_FORMAT": "xml"}, `UNTRACKD_LOG_FORMAT="xml": "xml": want console or json`},
		{nil, map[string]string{"UNTRACKD_LOG_LEVEL": "loud"}, `"loud" is not a log level`},
		{nil, map[string]string{"UNTRACKD_HEALTH_PORT": "x"}, `UNTRACKD_HEALTH_PORT="x": "x" is not a port`},
		{nil, map[string]string{"UNTRACKD_PROMETHEUS_METRICS_PORT": "70000"}, `"70000" is not a port (want 0-65535)`},
		{nil, map[string]string{"UNTRACKD_DATAPLANE_REFRESH_INTERVAL": "soon"}, "UNTRACKD_DATAPLANE_REFRESH_INTERVAL=\"soon\""},
		{nil, map[string]string{"UNTRACKD_DATAPLANE_REFRESH_INTERVAL": "-1s"}, "UNTRACKD_DATAPLANE_REFRESH_INTERVAL: must not be negative"},
		{[]string{"--liveness-timeout", "10ms"}, nil, "--liveness-timeout: 10ms is too short"},
		{[]string{"--etcd-endpoints", " , "}, nil, "--etcd-endpoints: no etcd endpoint given"},
		{[]string{"--embedded-etcd-dir", "/x", "--etcd-cacert", "ca.pem"}, nil, "the --etcd-* TLS files do not apply"},
		{[]string{"extra"}, nil, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := parseConfig("run", c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v %v: error %v, want %q", c.args, c.env, err, c.want)
			}
		})
	}
}

func TestConfigFileErrorNamesFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "untrackd.yaml")
	if err := os.WriteFile(file, []byte("healthPort: 99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := parseConfig("run", []string{"--config-file", file})
	want := "config file " + file + `: healthPort: "99999": "99999" is not a port (want 0-65535)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]zapcore.Level{
		"Debug": zapcore.DebugLevel, "TRACE": zapcore.DebugLevel, "info": zapcore.InfoLevel, "Warning": zapcore.WarnLevel,
		"warn": zapcore.WarnLevel, "Error": zapcore.ErrorLevel, "Fatal": zapcore.FatalLevel, "panic": zapcore.PanicLevel,
	} {
		if got, err := parseLevel(in); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", in, got, err, want)
		}
	}
	if _, err := parseLevel("verbose"); err == nil {
		t.Error("verbose accepted")
	}
}
