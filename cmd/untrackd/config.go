package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// errUsage reports a command-line error already printed by the flag package.
var errUsage = errors.New("usage")

// config is the daemon's configuration from flags and environment.
type config struct {
	EtcdEndpoints   []string
	EtcdCACert      string
	EtcdCert        string
	EtcdKey         string
	NodeName        string
	LogLevel        string
	LogFormat       string
	EmbeddedEtcdDir string
	RefreshInterval time.Duration
	ApplyRetryMax   time.Duration
	MarkAllow       uint
	MarkPass        uint
}

// envName returns the environment variable for a flag: "etcd-endpoints" →
// "UNTRACKD_ETCD_ENDPOINTS".
func envName(flagName string) string {
	return "UNTRACKD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig parses args with environment fallbacks. Flags on the command
// line win over the environment, which wins over defaults.
func parseConfig(name string, args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("untrackd "+name, flag.ContinueOnError)
	host, _ := os.Hostname()
	var endpoints string
	fs.StringVar(&endpoints, "etcd-endpoints", "http://127.0.0.1:2379", "comma-separated etcd client URLs")
	fs.StringVar(&c.EtcdCACert, "etcd-cacert", "", "CA certificate file to verify etcd's server certificate")
	fs.StringVar(&c.EtcdCert, "etcd-cert", "", "client certificate file for etcd")
	fs.StringVar(&c.EtcdKey, "etcd-key", "", "client key file for etcd")
	fs.StringVar(&c.NodeName, "node-name", host, "this node's name, as in HostEndpoint spec.node")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "console", "log format: console or json")
	fs.StringVar(&c.EmbeddedEtcdDir, "embedded-etcd-dir", "", "run a single-member etcd in-process on 127.0.0.1:2379 with its data in this directory (single-host use)")
	fs.DurationVar(&c.RefreshInterval, "dataplane-refresh-interval", 90*time.Second, "how often to re-read the kernel and repair any difference (0 disables)")
	fs.DurationVar(&c.ApplyRetryMax, "apply-retry-max", 30*time.Second, "longest wait between retries of a failed kernel update")
	fs.UintVar(&c.MarkAllow, "mark-allow", 0x10000000, "packet-mark bit set on packets untracked policy allowed")
	fs.UintVar(&c.MarkPass, "mark-pass", 0x20000000, "packet-mark bit used for Pass rules")

	set := map[string]bool{}
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.EtcdEndpoints = append(c.EtcdEndpoints, e)
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	switch {
	case c.NodeName == "":
		return errors.New("--node-name is empty and the hostname is unknown")
	case len(c.EtcdEndpoints) == 0 && c.EmbeddedEtcdDir == "":
		return errors.New("--etcd-endpoints is empty")
	case (c.EtcdCert == "") != (c.EtcdKey == ""):
		return errors.New("--etcd-cert and --etcd-key must be given together")
	case c.MarkAllow == 0 || c.MarkAllow&(c.MarkAllow-1) != 0 || c.MarkAllow > 0xffffffff:
		return fmt.Errorf("--mark-allow %#x must be a single bit", c.MarkAllow)
	case c.MarkPass == 0 || c.MarkPass&(c.MarkPass-1) != 0 || c.MarkPass > 0xffffffff || c.MarkPass == c.MarkAllow:
		return fmt.Errorf("--mark-pass %#x must be a single bit other than --mark-allow", c.MarkPass)
	case c.RefreshInterval < 0:
		return errors.New("--dataplane-refresh-interval must not be negative")
	}
	switch c.LogFormat {
	case "console", "json":
	default:
		return fmt.Errorf("--log-format %q: want console or json", c.LogFormat)
	}
	return nil
}
