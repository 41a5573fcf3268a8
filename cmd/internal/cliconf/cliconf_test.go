package cliconf

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type settings struct {
	file      string
	port      int
	host      string
	enabled   bool
	interval  time.Duration
	endpoints string
}

func newFlags() (*flag.FlagSet, *settings) {
	s := &settings{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.file, "config-file", "", "")
	fs.IntVar(&s.port, "health-port", 9099, "")
	fs.StringVar(&s.host, "health-host", "127.0.0.1", "")
	fs.BoolVar(&s.enabled, "health-enabled", true, "")
	fs.DurationVar(&s.interval, "dataplane-refresh-interval", 90*time.Second, "")
	fs.StringVar(&s.endpoints, "etcd-endpoints", "", "")
	return fs, s
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "untrackd.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNames(t *testing.T) {
	for flagName, want := range map[string][2]string{
		"health-port":                {"UNTRACKD_HEALTH_PORT", "healthPort"},
		"etcd-cacert":                {"UNTRACKD_ETCD_CACERT", "etcdCacert"},
		"dataplane-refresh-interval": {"UNTRACKD_DATAPLANE_REFRESH_INTERVAL", "dataplaneRefreshInterval"},
		"node-name":                  {"UNTRACKD_NODE_NAME", "nodeName"},
	} {
		if got := [2]string{EnvName(flagName), FileKey(flagName)}; got != want {
			t.Errorf("%s: %v, want %v", flagName, got, want)
		}
	}
}

// TestPrecedence checks flag > environment > file > default, per setting,
// and the recorded sources.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
# comment
healthPort: 9100          # loses to the environment
healthHost: 0.0.0.0       # wins: nothing else sets it
healthEnabled: false      # loses to the flag
etcdEndpoints: [http://a:2379, http://b:2379]
dataplaneRefreshInterval: null
`)
	t.Setenv("UNTRACKD_CONFIG_FILE", file)
	t.Setenv("UNTRACKD_HEALTH_PORT", "9200")
	fs, s := newFlags()
	o, err := Parse(fs, []string{"--health-enabled=true"}, "config-file")
	if err != nil {
		t.Fatal(err)
	}
	if s.port != 9200 || s.host != "0.0.0.0" || !s.enabled || s.interval != 90*time.Second || s.endpoints != "http://a:2379,http://b:2379" {
		t.Errorf("settings %+v", s)
	}
	want := map[string]Source{"health-port": Env, "health-host": File, "health-enabled": Flag, "dataplane-refresh-interval": Default, "etcd-endpoints": File, "config-file": Env}
	for name, src := range want {
		if got := o.Source(name); got != src {
			t.Errorf("%s: source %v, want %v", name, got, src)
		}
	}
	if d := o.Describe("health-host"); d != "config file "+file+": healthHost" {
		t.Errorf("describe: %q", d)
	}
	if d := o.Describe("dataplane-refresh-interval"); d != "--dataplane-refresh-interval (default)" || o.Local("dataplane-refresh-interval") {
		t.Errorf("describe default: %q", d)
	}
}

func TestErrorsNameTheSource(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{name: "env", env: map[string]string{"UNTRACKD_HEALTH_PORT": "x"}, want: `UNTRACKD_HEALTH_PORT="x": parse error`},
		{name: "file value", file: "healthPort: x\n", want: `: healthPort: "x": parse error`},
		{name: "file unknown key", file: "helthPort: 1\n", want: `unknown setting "helthPort"`},
		{name: "file nested", file: "healthPort: {a: 1}\n", want: "healthPort: want a string, number, boolean or list"},
		{name: "file not a mapping", file: "- a\n- b\n", want: "want a mapping of settings"},
		{name: "file syntax", file: "healthPort: [\n", want: "config file "},
		{name: "file names itself", file: "configFile: /x\n", want: "configFile cannot be set in a config file"},
		{name: "file duplicate key", file: "healthPort: 1\nhealthPort: 2\n", want: "config file "},
		{name: "missing file", args: []string{"--config-file", "/nonexistent/untrackd.yaml"}, want: "no such file"},
		{name: "positional", args: []string{"extra"}, want: `unexpected argument "extra"`},
		{name: "bad flag", args: []string{"--nope"}, want: "usage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			args := c.args
			if c.file != "" {
				args = append(args, "--config-file", writeFile(t, c.file))
			}
			fs, _ := newFlags()
			_, err := Parse(fs, args, "config-file")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	fs, s := newFlags()
	if _, err := Parse(fs, []string{"--config-file", writeFile(t, "# nothing\n")}, "config-file"); err != nil || s.port != 9099 {
		t.Errorf("empty file: %v, port %d", err, s.port)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Setenv("UNTRACKD_HEALTH_HOST", "10.0.0.1")
	t.Setenv("UNTRACKD_HEALTH_PORT", "1234")
	fs, s := newFlags()
	o, pos, err := ParseInterspersed(fs, []string{"get", "hep", "--health-enabled=false", "h1", "--", "-x"},
		func(name string) bool { return name != "health-port" })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pos, " ") != "get hep h1 -x" || s.enabled {
		t.Errorf("positional %q, enabled %v", pos, s.enabled)
	}
	if s.host != "10.0.0.1" || o.Source("health-host") != Env {
		t.Errorf("host %q from %v: the environment applies", s.host, o.Source("health-host"))
	}
	if s.port != 9099 || o.Source("health-port") != Default {
		t.Errorf("port %d: the environment must not apply to flags env excludes", s.port)
	}
}
