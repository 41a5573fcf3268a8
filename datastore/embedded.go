package datastore

import (
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// EmbeddedConfig configures an in-process, single-member etcd.
type EmbeddedConfig struct {
	// Dir holds etcd's data; it is created if missing. Starting again on
	// the same Dir resumes the same data.
	Dir string
	// Name is the member name (default "untrackd").
	Name string
	// ClientURL is where clients connect (default http://127.0.0.1:2379, or
	// https://127.0.0.1:2379 when CertFile is set).
	ClientURL string
	// PeerURL is the raft peer listener (default http://127.0.0.1:2380). A
	// single member has no peers, but etcd still listens.
	PeerURL string
	// CertFile and KeyFile are the server certificate and key for
	// ClientURL, which must then be https://.
	CertFile, KeyFile string
	// ClientCAFile, when set (with CertFile), makes etcd require client
	// certificates signed by this CA.
	ClientCAFile string
	// Logger receives etcd's logs at warn level and above, named "etcd";
	// nil discards them.
	Logger *zap.Logger
	// StartTimeout bounds waiting for etcd to be ready (default 60s).
	StartTimeout time.Duration
	// UnsafeNoFsync skips fsync: faster, but data can be lost on a crash.
	// For tests only.
	UnsafeNoFsync bool
}

// Embedded is a running in-process etcd.
type Embedded struct {
	etcd      *embed.Etcd
	closing   *atomic.Bool
	closeOnce sync.Once
	endpoints []string
}

// StartEmbedded starts an etcd member as cfg says and waits until it serves
// clients. History is compacted automatically, keeping one hour.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	closing := new(atomic.Bool)
	ec, err := cfg.etcdConfig(closing)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: %w", err)
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd: start in %s: %w", cfg.Dir, err)
	}
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd: start in %s: %w", cfg.Dir, err)
	case <-t.C:
		closing.Store(true)
		e.Close()
		return nil, fmt.Errorf("embedded etcd: not ready within %s", timeout)
	}
	return &Embedded{etcd: e, closing: closing, endpoints: []string{ec.AdvertiseClientUrls[0].String()}}, nil
}

// etcdConfig translates cfg. closing, once set, silences the errors etcd
// logs about its listeners closing.
func (cfg EmbeddedConfig) etcdConfig(closing *atomic.Bool) (*embed.Config, error) {
	if cfg.Dir == "" {
		return nil, errors.New("no data directory given")
	}
	secure := cfg.CertFile != "" || cfg.KeyFile != ""
	if secure && (cfg.CertFile == "" || cfg.KeyFile == "") {
		return nil, errors.New("a server certificate needs both a certificate file and a key file")
	}
	if cfg.ClientCAFile != "" && !secure {
		return nil, errors.New("client certificate authentication needs a server certificate")
	}
	clientURL := cfg.ClientURL
	if clientURL == "" {
		clientURL = "http://127.0.0.1:2379"
		if secure {
			clientURL = "https://127.0.0.1:2379"
		}
	}
	cu, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("client URL: %w", err)
	}
	switch {
	case secure && cu.Scheme != "https":
		return nil, fmt.Errorf("client URL %s: must be https:// when a server certificate is given", clientURL)
	case !secure && cu.Scheme != "http":
		return nil, fmt.Errorf("client URL %s: must be http:// without a server certificate", clientURL)
	}
	peerURL := cfg.PeerURL
	if peerURL == "" {
		peerURL = "http://127.0.0.1:2380"
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return nil, fmt.Errorf("peer URL: %w", err)
	}
	if pu.Scheme != "http" {
		return nil, fmt.Errorf("peer URL %s: scheme must be http", peerURL)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	if ec.Name == "" {
		ec.Name = "untrackd"
	}
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*cu}
	ec.AdvertiseClientUrls = []url.URL{*cu}
	ec.ListenPeerUrls = []url.URL{*pu}
	ec.AdvertisePeerUrls = []url.URL{*pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.ClientTLSInfo.CertFile = cfg.CertFile
	ec.ClientTLSInfo.KeyFile = cfg.KeyFile
	ec.ClientTLSInfo.TrustedCAFile = cfg.ClientCAFile
	ec.ClientTLSInfo.ClientCertAuth = cfg.ClientCAFile != ""
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "1h"
	ec.UnsafeNoFsync = cfg.UnsafeNoFsync

	log := quiet(cfg.Logger, "etcd", zapcore.WarnLevel).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return shutdownFilter{Core: c, closing: closing}
	}))
	ec.Logger = "zap"
	ec.LogLevel = "warn"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(log)
	return ec, nil
}

// Endpoints returns the client URLs to pass to NewClient.
func (e *Embedded) Endpoints() []string { return e.endpoints }

// Err reports a fatal error of the running server; it is closed when the
// server stops.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the server. It waits for open client requests to finish, and
// for open watches up to etcd's request timeout (about 7s), so close clients
// first. Safe to call more than once.
func (e *Embedded) Close() {
	e.closeOnce.Do(func() {
		e.closing.Store(true)
		e.etcd.Close()
	})
}
