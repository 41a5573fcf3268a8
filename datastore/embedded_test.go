package datastore

import (
	"strings"
	"testing"
)

func TestEmbeddedConfigErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  EmbeddedConfig
		want string
	}{
		{"no dir", EmbeddedConfig{}, "no data directory"},
		{"certificate without key", EmbeddedConfig{Dir: dir, CertFile: "c"}, "both a certificate file and a key file"},
		{"client CA without certificate", EmbeddedConfig{Dir: dir, ClientCAFile: "ca"}, "needs a server certificate"},
		{"https without certificate", EmbeddedConfig{Dir: dir, ClientURL: "https://127.0.0.1:1"}, "must be http://"},
		{"http with certificate", EmbeddedConfig{Dir: dir, ClientURL: "http://127.0.0.1:1", CertFile: "c", KeyFile: "k"}, "must be https://"},
		{"https peer", EmbeddedConfig{Dir: dir, PeerURL: "https://127.0.0.1:1"}, "peer URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := StartEmbedded(tc.cfg)
			if err == nil {
				e.Close()
				t.Fatalf("StartEmbedded succeeded, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

// TestEmbeddedRestartKeepsData checks that an embedded etcd started again on
// the same directory has the same data, and that a second start on a port in
// use fails cleanly.
func TestEmbeddedRestartKeepsData(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	e1 := startEtcd(t, cfg)
	if got := e1.Endpoints(); len(got) != 1 || got[0] != cfg.ClientURL {
		t.Errorf("Endpoints() = %v, want [%s]", got, cfg.ClientURL)
	}
	other := cfg
	other.Dir = t.TempDir()
	if e, err := StartEmbedded(other); err == nil {
		e.Close()
		t.Error("a second etcd on the same ports started")
	}
	cli := newClient(t, e1.Endpoints())
	rev := mustPut(t, cli, hep("a", "eth0"))
	cli.Close()
	e1.Close()
	e1.Close() // idempotent

	e2 := startEtcd(t, cfg)
	cli = newClient(t, e2.Endpoints())
	resp, err := cli.Get(t.Context(), hepKey("a").String())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != rev {
		t.Errorf("after restart got %v, want a at revision %d", resp.Kvs, rev)
	}
}
