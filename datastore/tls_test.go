package datastore

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files in a temporary directory.
type testPKI struct {
	caCert, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "untrackd test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, cn+".crt", "CERTIFICATE", der), writeKey(t, dir, cn+".key", key)
	}
	p := testPKI{caCert: writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue(2, "server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeKey(t *testing.T, dir, name string, k *ecdsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "PRIVATE KEY", der)
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTLS runs etcd with a server certificate and client-certificate
// authentication: a client with the right certificate syncs, one without is
// refused with an error that says so.
func TestTLS(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cfg := embeddedConfig(t)
	cfg.ClientURL = "https://" + strings.TrimPrefix(cfg.ClientURL, "http://")
	cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile = pki.serverCert, pki.serverKey, pki.caCert
	e := startEtcd(t, cfg)
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel))

	cli, err := NewClient(Config{
		Endpoints:  e.Endpoints(),
		CACertFile: pki.caCert,
		CertFile:   pki.clientCert,
		KeyFile:    pki.clientKey,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	mustPut(t, cli, hep("a", "eth0"))
	c := runSyncer(t, NewSyncer(cli, testOptions(zaptest.NewLogger(t))))
	defer c.stop()
	c.waitFor(t, 10*time.Second, "a over TLS", func() bool { return c.status == InSync && c.state[hepKey("a")] != nil })

	// Without a client certificate the client is created (it does not
	// connect), its requests time out, and Probe says why.
	noCertCfg := Config{Endpoints: e.Endpoints(), CACertFile: pki.caCert, DialTimeout: 2 * time.Second}
	noCert, err := NewClient(noCertCfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer noCert.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := noCert.Get(ctx, "x"); err == nil {
		t.Fatal("Get without a client certificate succeeded")
	}
	tests := []struct {
		name string
		cfg  Config
		want string // in the error; "" for success
	}{
		{"right certificates", Config{Endpoints: e.Endpoints(), CACertFile: pki.caCert, CertFile: pki.clientCert, KeyFile: pki.clientKey}, ""},
		{"no client certificate", noCertCfg, "certificate required"},
		{"untrusted server", Config{Endpoints: e.Endpoints(), CACertFile: pki.clientCert, CertFile: pki.clientCert, KeyFile: pki.clientKey}, "x509: certificate signed by unknown authority"},
		{"nothing listening", Config{Endpoints: []string{freeURL(t, "https")}, CACertFile: pki.caCert}, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Probe(context.Background(), tc.cfg)
			t.Logf("Probe: %v", err)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Probe = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Probe = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
