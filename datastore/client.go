package datastore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
)

// Config says how to reach etcd.
type Config struct {
	// Endpoints are etcd client URLs, e.g. https://10.0.0.1:2379.
	Endpoints []string
	// CACertFile verifies the servers' certificates; empty means the
	// system's roots.
	CACertFile string
	// CertFile and KeyFile are the client certificate and its key, for
	// servers that require client-certificate authentication. Set both or
	// neither.
	CertFile, KeyFile string
	// DialTimeout bounds establishing the connection (default 5s).
	DialTimeout time.Duration
	// PageSize is the number of keys per list request (default 500); pass
	// it on in SyncerOptions.
	PageSize int64
}

// DefaultDialTimeout is Config.DialTimeout's default.
const DefaultDialTimeout = 5 * time.Second

// NewClient returns an etcd client for cfg. TLS is used when any endpoint is
// https:// or any certificate file is given; a file that cannot be loaded is
// an error naming it. NewClient does not wait for etcd: it succeeds while etcd
// is down, and requests then wait for the connection (the Syncer bounds them
// with its RequestTimeout).
//
// The client logs through log named "etcd", at error level only.
// The caller must Close the client.
func NewClient(cfg Config, log *zap.Logger) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints given")
	}
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("etcd: %w", err)
	}
	dialTimeout := cfg.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = DefaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		TLS:                  tlsCfg,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		// At warn level the client logs every failed request attempt
		// ("retrying of unary invoker failed"), once per Syncer retry while
		// etcd is down; the Syncer reports those failures itself, rate-limited.
		Logger: quiet(log, "etcd", zapcore.ErrorLevel),
		DialOptions: []grpc.DialOption{
			// gRPC's default reconnect backoff grows to 120s, which would
			// leave us out of sync for up to two minutes after etcd is back.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: grpcbackoff.Config{
					BaseDelay:  100 * time.Millisecond,
					Multiplier: 1.6,
					Jitter:     0.2,
					MaxDelay:   5 * time.Second,
				},
				MinConnectTimeout: dialTimeout,
			}),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: create client for %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return cli, nil
}

// tlsConfig returns the client TLS configuration, or nil for plain-text.
func (cfg Config) tlsConfig() (*tls.Config, error) {
	files := cfg.CACertFile != "" || cfg.CertFile != "" || cfg.KeyFile != ""
	secure := false
	for _, ep := range cfg.Endpoints {
		switch {
		case strings.HasPrefix(ep, "https://"), strings.HasPrefix(ep, "unixs://"):
			secure = true
		case files && (strings.HasPrefix(ep, "http://") || strings.HasPrefix(ep, "unix://")):
			// The etcd client would silently drop TLS for this endpoint.
			return nil, fmt.Errorf("endpoint %s is plain-text but certificate files are given; use https://", ep)
		}
	}
	if !files && !secure {
		return nil, nil
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("a client certificate needs both a certificate file and a key file")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CACertFile != "" {
		pem, err := os.ReadFile(cfg.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA certificate file %s holds no PEM certificate", cfg.CACertFile)
		}
		tc.RootCAs = pool
	}
	if cfg.CertFile != "" {
		certPEM, err := os.ReadFile(cfg.CertFile)
		if err != nil {
			return nil, fmt.Errorf("read client certificate file: %w", err)
		}
		keyPEM, err := os.ReadFile(cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read client key file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s with key %s: %w", cfg.CertFile, cfg.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Probe connects once to each endpoint in cfg, with the TLS settings
// NewClient would use, and returns nil as soon as one accepts the
// connection, or an error per endpoint saying why none did. It reports what
// the etcd client's requests hide behind "context deadline exceeded":
// connection refused, an untrusted server certificate, or a server that
// rejects (or requires) our client certificate. It does not speak etcd's
// protocol, so a nil result does not prove etcd is healthy.
//
// Call it to explain a failure, e.g. when etcd cannot be reached at start.
func Probe(ctx context.Context, cfg Config) error {
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	timeout := cfg.DialTimeout
	if timeout <= 0 {
		timeout = DefaultDialTimeout
	}
	var errs []error
	for _, ep := range cfg.Endpoints {
		err := probeEndpoint(ctx, ep, tlsCfg, timeout)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("etcd endpoint %s: %w", ep, err))
	}
	if len(errs) == 0 {
		return errors.New("etcd: no endpoints given")
	}
	return errors.Join(errs...)
}

func probeEndpoint(ctx context.Context, endpoint string, tlsCfg *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network, addr := "tcp", endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		addr = u.Host
	}
	if rest, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		network, addr = "unix", rest
	} else if rest, ok := strings.CutPrefix(endpoint, "unixs://"); ok {
		network, addr = "unix", rest
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if tlsCfg == nil {
		return nil
	}
	tc := tlsCfg.Clone()
	if host, _, err := net.SplitHostPort(addr); err == nil && tc.ServerName == "" {
		tc.ServerName = host
	}
	tlsConn := tls.Client(conn, tc)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	// With TLS 1.3 the server checks our certificate after the handshake
	// and its verdict arrives with the first read. A server that accepted us
	// waits for our request, so a read timeout means success.
	_ = tlsConn.SetReadDeadline(time.Now().Add(min(timeout, 500*time.Millisecond)))
	var buf [1]byte
	_, err = tlsConn.Read(buf[:])
	var ne net.Error
	switch {
	case err == nil, errors.As(err, &ne) && ne.Timeout():
		return nil
	case errors.Is(err, io.EOF):
		return errors.New("server closed the connection after the TLS handshake (client certificate rejected?)")
	default:
		return fmt.Errorf("server rejected the connection after the TLS handshake: %w", err)
	}
}
