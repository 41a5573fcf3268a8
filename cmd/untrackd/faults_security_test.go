package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/faults"
	"github.com/untrackd/untrackd/dataplane/netnstest"
)

// faultPKI is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, and a second, untrusted CA with a client certificate
// of its own, as PEM files (keys 0600) in a temporary directory.
type faultPKI struct {
	caCert, serverCert, serverKey, clientCert, clientKey string
	rogueCert, rogueKey                                  string // signed by another CA
}

func newFaultPKI(t *testing.T) *faultPKI {
	t.Helper()
	dir := t.TempDir()
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := pkiKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		ca, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return ca, key, der
	}
	issue := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		key := pkiKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(2 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pkiWrite(t, dir, cn+".crt", "CERTIFICATE", der), pkiWrite(t, dir, cn+".key", "PRIVATE KEY", kder)
	}
	ca, caKey, caDER := newCA("untrackd fault-test CA")
	rogueCA, rogueKey, _ := newCA("some other CA")
	p := &faultPKI{caCert: pkiWrite(t, dir, "ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue(ca, caKey, 2, "etcd-server", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(ca, caKey, 3, "untrackd-node", x509.ExtKeyUsageClientAuth)
	p.rogueCert, p.rogueKey = issue(rogueCA, rogueKey, 4, "rogue-node", x509.ExtKeyUsageClientAuth)
	return p
}

func pkiKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkiWrite(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFaultTLSEtcd runs untrackd against an etcd that serves TLS and
// requires client certificates: with the node's certificate it syncs and
// enforces the policy; without a client certificate, or with one from
// another CA, it never gets in sync (and so writes nothing), and says so.
func TestFaultTLSEtcd(t *testing.T) {
	pki := newFaultPKI(t)
	start := time.Now()
	b := newFaultBed(t, faultBedOptions{tls: pki})
	ready := time.Since(start)
	tr := b.startTraffic()
	time.Sleep(time.Second)
	res := tr.stop()
	if res.failed != 0 || res.longFail != 0 {
		t.Errorf("traffic over TLS-configured untrackd: %v", res)
	}
	if n := b.srv.ConntrackCount(t, "-p", "tcp", "--dport", portUntracked); n != 0 {
		t.Errorf("%d conntrack entries for the untracked port", n)
	}

	// Two other nodes at once: one without a client certificate, one with
	// a certificate of another CA. The first failure is logged when the
	// first list request times out (10s).
	type node struct {
		name string
		ns   *netnstest.NS
		d    *daemonProc
	}
	var nodes []node
	for _, c := range []struct {
		name string
		args []string
	}{
		{"no client certificate", []string{"--etcd-cacert", pki.caCert}},
		{"client certificate of another CA", []string{"--etcd-cacert", pki.caCert, "--etcd-cert", pki.rogueCert, "--etcd-key", pki.rogueKey}},
	} {
		ns := netnstest.New(t, "ut-ftls")
		startEtcdProxy(t, ns, "127.0.0.1:2379", b.etcd.addr).setUp(true)
		args := append([]string{"--node-name", "memcached-node-1", "--log-format", "json", "--etcd-endpoints", "https://127.0.0.1:2379"}, c.args...)
		nodes = append(nodes, node{c.name, ns, startDaemonIn(t, ns, nil, b.bin, args...)})
	}
	time.Sleep(12 * time.Second)
	var notes []string
	for _, n := range nodes {
		code, body := nsFetch(nsHTTP(n.ns), healthURL+"/readiness")
		if code != 503 || !strings.Contains(body, "datastore not yet in sync") {
			t.Errorf("%s: readiness %d %q, want 503 not in sync", n.name, code, body)
		}
		if out, _ := n.ns.Exec("nft", "list", "table", "inet", "untrackd"); strings.Contains(out, "chain") {
			t.Errorf("%s: untrackd wrote rules without being in sync:\n%s", n.name, out)
		}
		failed := b.logLines(n.d, "etcd sync failed; retrying with backoff")
		if len(failed) == 0 {
			t.Errorf("%s: no sync failure logged:\n%s", n.name, n.d.out.String())
		} else {
			t.Logf("%s: logged %q", n.name, failed[0]["error"])
		}
		notes = append(notes, n.name+": never in sync, nothing written")
	}
	b.rows.add(faults.Row{Fault: "etcd over TLS with client certificates", Attempted: res.attempted, Failed: res.failed,
		Converge: ready, Notes: "start → ready with the node's certificate; " + strings.Join(notes, "; ")})
}

// TestFaultLoopbackAndFiles checks what untrackd exposes and writes: the
// health and metrics servers and the embedded etcd listen on loopback only
// (unreachable from another host), and the embedded etcd's data directory
// and files are private (0700 directories, 0600 files), even with umask 0.
func TestFaultLoopbackAndFiles(t *testing.T) {
	requireFaultTools(t)
	bin := buildDaemon(t)
	srv, cli := netnstest.New(t, "ut-flo"), netnstest.New(t, "ut-flocli")
	netnstest.Link(t, srv, "eth0", []string{srvIP + "/24"}, cli, "eth0", []string{cliIP + "/24"})
	dir := filepath.Join(t.TempDir(), "var", "lib", "untrackd", "etcd")
	old := syscall.Umask(0) // the daemon inherits it
	d := startDaemonIn(t, srv, nil, bin, "--embedded-etcd-dir", dir, "--node-name", "memcached-node-1")
	syscall.Umask(old)
	web := nsHTTP(srv)
	start := time.Now()
	pollFor(t, 60*time.Second, func() string {
		code, body := nsFetch(web, healthURL+"/readiness")
		return unless(code == 200, "readiness %d %s", code, body)
	})
	ready := time.Since(start)

	// Listening sockets: loopback only.
	out := srv.MustExec(t, "ss", "-Hltn")
	var listen []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			listen = append(listen, f[3])
		}
	}
	sort.Strings(listen)
	if want := "127.0.0.1:2379 127.0.0.1:2380 127.0.0.1:9091 127.0.0.1:9099"; strings.Join(listen, " ") != want {
		t.Errorf("listening on %v, want %s", listen, want)
	}
	for _, port := range []string{"9099", "9091", "2379"} {
		if c, err := dialFrom(cli, "", srvIP+":"+port, time.Second); err == nil {
			c.Close()
			t.Errorf("port %s reachable from another host", port)
		}
	}

	// Files: nothing readable by others.
	var checked int
	var loose []string
	err := filepath.WalkDir(filepath.Dir(filepath.Dir(dir)), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		checked++
		if info.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s %v", path, info.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(loose) > 0 {
		t.Errorf("files or directories accessible to others (umask 0):\n%s", strings.Join(loose, "\n"))
	}
	if checked < 6 {
		t.Errorf("only %d paths under the data directory", checked)
	}
	_ = d
	newFaultRows(t).add(faults.Row{Fault: "exposure: listeners and files", Converge: ready,
		Notes: fmt.Sprintf("listens on %s only; %d etcd paths all private with umask 0", strings.Join(listen, ", "), checked)})
}
