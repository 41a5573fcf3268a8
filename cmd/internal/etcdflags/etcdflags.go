// Package etcdflags defines the etcd connection flags that untrackd and
// untrackctl share (--etcd-endpoints and the TLS files), so that both take
// the same flags and UNTRACKD_* environment variables.
package etcdflags

import (
	"flag"
	"fmt"
	"strings"

	"github.com/untrackd/untrackd/cmd/internal/cliconf"
	"github.com/untrackd/untrackd/datastore"
)

// DefaultEndpoints is --etcd-endpoints' default.
const DefaultEndpoints = "http://127.0.0.1:2379"

// Flags are the etcd connection settings.
type Flags struct {
	endpoints         string
	CACert, Cert, Key string
}

// Register defines --etcd-endpoints, --etcd-cacert, --etcd-cert and
// --etcd-key on fs.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.endpoints, "etcd-endpoints", DefaultEndpoints, "comma-separated etcd client URLs")
	fs.StringVar(&f.CACert, "etcd-cacert", "", "CA certificate file to verify etcd's server certificate")
	fs.StringVar(&f.Cert, "etcd-cert", "", "client certificate file for etcd")
	fs.StringVar(&f.Key, "etcd-key", "", "client key file for etcd")
	return f
}

// Endpoints returns the endpoint URLs, trimmed, without empty items.
func (f *Flags) Endpoints() []string {
	var out []string
	for _, e := range strings.Split(f.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the settings; errors name where the values came from.
func (f *Flags) Validate(o *cliconf.Origins) error {
	switch {
	case len(f.Endpoints()) == 0:
		return fmt.Errorf("%s: no etcd endpoint given", o.Describe("etcd-endpoints"))
	case (f.Cert == "") != (f.Key == ""):
		return fmt.Errorf("%s and %s must be given together", o.Describe("etcd-cert"), o.Describe("etcd-key"))
	}
	return nil
}

// Config returns the datastore client configuration.
func (f *Flags) Config() datastore.Config {
	return datastore.Config{Endpoints: f.Endpoints(), CACertFile: f.CACert, CertFile: f.Cert, KeyFile: f.Key}
}
