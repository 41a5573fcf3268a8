package datastore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewClientConfigErrors(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	ep := []string{"https://127.0.0.1:2379"}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"no endpoints", Config{}, "no endpoints"},
		{"missing CA file", Config{Endpoints: ep, CACertFile: missing}, missing},
		{"CA file without certificates", Config{Endpoints: ep, CACertFile: garbage}, garbage},
		{"certificate without key", Config{Endpoints: ep, CertFile: pki.clientCert}, "both a certificate file and a key file"},
		{"key without certificate", Config{Endpoints: ep, KeyFile: pki.clientKey}, "both a certificate file and a key file"},
		{"missing certificate file", Config{Endpoints: ep, CertFile: missing, KeyFile: pki.clientKey}, missing},
		{"missing key file", Config{Endpoints: ep, CertFile: pki.clientCert, KeyFile: missing}, missing},
		{"key does not match certificate", Config{Endpoints: ep, CertFile: pki.clientCert, KeyFile: pki.serverKey}, pki.clientCert},
		{"garbage certificate", Config{Endpoints: ep, CertFile: garbage, KeyFile: pki.clientKey}, garbage},
		{"certificates with a plain-text endpoint", Config{Endpoints: []string{"http://127.0.0.1:2379"}, CACertFile: pki.caCert}, "plain-text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cli, err := NewClient(tc.cfg, nil)
			if err == nil {
				cli.Close()
				t.Fatalf("NewClient succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewClient error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestNewClientWithoutEtcd checks that a client can be created while etcd is
// down (the Syncer then waits for it).
func TestNewClientWithoutEtcd(t *testing.T) {
	t.Parallel()
	cli, err := NewClient(Config{Endpoints: []string{freeURL(t, "http")}}, nil)
	if err != nil {
		t.Fatalf("NewClient with etcd down: %v", err)
	}
	cli.Close()
}
