package main

// The fault-injection tests (faults_*_test.go) run the real untrackd binary
// in a throwaway server namespace, linked to a client namespace, against an
// etcd the test controls: an embedded etcd in the test's own namespace,
// reached through a TCP proxy listening on 127.0.0.1:2379 inside the server
// namespace (etcdProxy). The test can stop and restart that etcd, cut the
// proxy, or drop its packets in the kernel, independently of the daemon.
// Each test records what the traffic and the kernel saw as rows of the
// fault table (cmd/internal/faults; "make test-faults" prints it).

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/cmd/internal/faults"
	"github.com/untrackd/untrackd/dataplane/netnstest"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/datastore"
)

// faultEtcd is an embedded etcd in the test's namespace that the test can
// stop and start again on the same data and addresses.
type faultEtcd struct {
	t    *testing.T
	cfg  datastore.EmbeddedConfig
	mu   sync.Mutex
	e    *datastore.Embedded
	cli  *clientv3.Client
	addr string // host:port clients connect to
}

// freeAddr returns a 127.0.0.1:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// newFaultEtcd starts an etcd; tls, if not nil, makes it serve TLS and
// require client certificates signed by tls.ca.
func newFaultEtcd(t *testing.T, tls *faultPKI) *faultEtcd {
	t.Helper()
	fe := &faultEtcd{t: t, addr: freeAddr(t)}
	scheme := "http"
	if tls != nil {
		scheme = "https"
	}
	fe.cfg = datastore.EmbeddedConfig{
		Dir: t.TempDir(), ClientURL: scheme + "://" + fe.addr, PeerURL: "http://" + freeAddr(t),
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), UnsafeNoFsync: true,
	}
	if tls != nil {
		fe.cfg.CertFile, fe.cfg.KeyFile, fe.cfg.ClientCAFile = tls.serverCert, tls.serverKey, tls.caCert
	}
	fe.start()
	t.Cleanup(fe.stop)
	cfg := datastore.Config{Endpoints: []string{scheme + "://" + fe.addr}, DialTimeout: 10 * time.Second}
	if tls != nil {
		cfg.CACertFile, cfg.CertFile, cfg.KeyFile = tls.caCert, tls.clientCert, tls.clientKey
	}
	cli, err := datastore.NewClient(cfg, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	fe.cli = cli
	t.Cleanup(func() { _ = cli.Close() }) // before stop: cleanups run last first
	return fe
}

// start starts the etcd (again).
func (fe *faultEtcd) start() {
	fe.t.Helper()
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.e != nil {
		return
	}
	e, err := datastore.StartEmbedded(fe.cfg)
	if err != nil {
		fe.t.Fatalf("start etcd: %v", err)
	}
	fe.e = e
}

// stop stops the etcd; its data stays for start.
func (fe *faultEtcd) stop() {
	fe.mu.Lock()
	defer fe.mu.Unlock()
	if fe.e != nil {
		fe.e.Close()
		fe.e = nil
	}
}

func (fe *faultEtcd) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// put writes a resource, as etcdctl put would; it returns the revision.
func (fe *faultEtcd) put(key, value string) int64 {
	fe.t.Helper()
	ctx, cancel := fe.ctx()
	defer cancel()
	resp, err := fe.cli.Put(ctx, key, value)
	if err != nil {
		fe.t.Fatalf("etcd put %s: %v", key, err)
	}
	return resp.Header.Revision
}

func (fe *faultEtcd) del(key string) {
	fe.t.Helper()
	ctx, cancel := fe.ctx()
	defer cancel()
	if _, err := fe.cli.Delete(ctx, key); err != nil {
		fe.t.Fatalf("etcd delete %s: %v", key, err)
	}
}

// putMany writes key/value pairs in transactions of 100 (etcd's default
// limit is 128 operations per transaction).
func (fe *faultEtcd) putMany(kvs [][2]string) {
	fe.t.Helper()
	for len(kvs) > 0 {
		n := min(len(kvs), 100)
		ops := make([]clientv3.Op, n)
		for i, kv := range kvs[:n] {
			ops[i] = clientv3.OpPut(kv[0], kv[1])
		}
		ctx, cancel := fe.ctx()
		_, err := fe.cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			fe.t.Fatalf("etcd txn of %d puts: %v", n, err)
		}
		kvs = kvs[n:]
	}
}

// faultBed is the server and client namespaces, the etcd, the proxy and
// the daemon (restartable) of one fault test.
type faultBed struct {
	t        *testing.T
	srv, cli *netnstest.NS
	etcd     *faultEtcd
	proxy    *etcdProxy
	bin      string
	args     []string // the daemon's arguments
	d        *daemonProc
	web      *http.Client
	nl       *nft.Netlink // reads untrackd's table in srv
	rows     *faultRows
}

// faultBedOptions configure newFaultBed. etcd always starts with
// seedResources.
type faultBedOptions struct {
	tls  *faultPKI // etcd over TLS with client certificates
	args []string  // extra daemon arguments
	// noStart does not start the daemon.
	noStart bool
}

// The bed's ports: 12211 is allowed untracked (the seed policy), 12212 and
// 12214 tracked through a normal policy (allowGNP); 12214 serves
// long-lived connections.
const (
	portUntracked = "12211"
	portTracked   = "12212"
	portLongLived = "12214"
)

// seedResources are the bed's resources: the seed guide's two host
// endpoints and untracked policy, and a normal policy allowing the test
// ports tracked.
var seedResources = [][2]string{
	{keyPrefix + "hostendpoints/memcached-node-1-eth0", seedHEP},
	{keyPrefix + "hostendpoints/memcached-client-1-eth0", clientHEP},
	{keyPrefix + "globalnetworkpolicies/memcached-server", seedGNP},
	{keyPrefix + "globalnetworkpolicies/allow-test-ports", allowGNP},
}

func requireFaultTools(t *testing.T) {
	t.Helper()
	netnstest.RequireRoot(t)
	for _, tool := range []string{"nft", "conntrack", "ss"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping kernel test: %s not installed (apt-get install nftables conntrack iproute2)", tool)
		}
	}
}

func newFaultBed(t *testing.T, o faultBedOptions) *faultBed {
	t.Helper()
	requireFaultTools(t)
	b := &faultBed{t: t, bin: buildDaemon(t), rows: newFaultRows(t)}
	b.etcd = newFaultEtcd(t, o.tls)
	b.srv, b.cli = netnstest.New(t, "ut-fsrv"), netnstest.New(t, "ut-fcli")
	netnstest.Link(t, b.srv, "eth0", []string{srvIP + "/24"}, b.cli, "eth0", []string{cliIP + "/24"})
	for _, port := range []string{portUntracked, portTracked} {
		b.srv.TCPServe(t, srvIP+":"+port)
	}
	streamServe(t, b.srv, srvIP+":"+portLongLived)
	b.proxy = startEtcdProxy(t, b.srv, "127.0.0.1:2379", b.etcd.addr)
	b.proxy.setUp(true)
	b.web = nsHTTP(b.srv)
	nl, err := nft.NewNetlink(nft.WithNetNS(b.srv.FD(t)), nft.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nl.Close() })
	b.nl = nl
	scheme := "http"
	b.args = []string{"--node-name", "memcached-node-1", "--log-format", "json", "--apply-retry-max", "2s"}
	if o.tls != nil {
		scheme = "https"
		b.args = append(b.args, "--etcd-cacert", o.tls.caCert, "--etcd-cert", o.tls.clientCert, "--etcd-key", o.tls.clientKey)
	}
	b.args = append(b.args, "--etcd-endpoints", scheme+"://127.0.0.1:2379")
	b.args = append(b.args, o.args...)
	b.etcd.putMany(seedResources)
	if !o.noStart {
		b.start()
		b.waitReady(60 * time.Second)
		b.waitFor("the seed policy in the kernel", 30*time.Second, func() bool {
			st := b.list()
			return st != nil && st.Chains["pol-untracked-out-memcached-server"] != nil && len(st.Sets) > 0
		})
	}
	return b
}

// start starts the daemon with the bed's arguments and extra ones.
func (b *faultBed) start(extra ...string) *daemonProc {
	b.t.Helper()
	b.d = startDaemonIn(b.t, b.srv, nil, b.bin, append(append([]string{}, b.args...), extra...)...)
	return b.d
}

// kill sends sig to the daemon and waits for it to exit.
func (b *faultBed) kill(sig os.Signal) {
	b.t.Helper()
	if err := b.d.cmd.Process.Signal(sig); err != nil {
		b.t.Fatal(err)
	}
	select {
	case <-b.d.done:
	case <-time.After(30 * time.Second):
		b.t.Fatalf("untrackd did not exit after %v", sig)
	}
}

// readiness returns the readiness status code and body (0 if unreachable).
func (b *faultBed) readiness() (int, string) {
	return nsFetch(b.web, healthURL+"/readiness")
}

func (b *faultBed) ready() bool {
	code, _ := b.readiness()
	return code == http.StatusOK
}

// waitReady waits until the daemon reports ready and returns how long it
// took.
func (b *faultBed) waitReady(timeout time.Duration) time.Duration {
	b.t.Helper()
	return b.waitFor("readiness", timeout, b.ready)
}

// waitFor polls cond every 10ms until it holds, and returns how long that
// took; it fails the test after timeout.
func (b *faultBed) waitFor(what string, timeout time.Duration, cond func() bool) time.Duration {
	b.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			code, body := b.readiness()
			b.t.Fatalf("timed out after %v waiting for %s (readiness %d %q)", timeout, what, code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// metrics scrapes the daemon's metrics (nil if it cannot).
func (b *faultBed) metrics() map[string]float64 {
	m, err := scrapeText(b.web, "http://127.0.0.1:9091/metrics")
	if err != nil {
		return nil
	}
	return m
}

// metric returns one sample, failing the test if the scrape fails.
func (b *faultBed) metric(series string) float64 {
	b.t.Helper()
	m, err := scrapeText(b.web, "http://127.0.0.1:9091/metrics")
	if err != nil {
		b.t.Fatal(err)
	}
	return m[series]
}

// list reads untrackd's table (nil if absent).
func (b *faultBed) list() *nft.TableState {
	b.t.Helper()
	st, err := b.nl.List(context.Background())
	if err != nil {
		b.t.Fatalf("list untrackd's table: %v", err)
	}
	return st
}

// nft runs an nft command in the server namespace.
func (b *faultBed) nft(args ...string) string {
	b.t.Helper()
	return b.srv.MustExec(b.t, "nft", args...)
}

// logLines returns the daemon's JSON log lines whose message contains msg.
func (b *faultBed) logLines(d *daemonProc, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(d.out.String(), "\n") {
		if !strings.Contains(line, msg) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && strings.Contains(fmt.Sprint(m["msg"]), msg) {
			out = append(out, m)
		}
	}
	return out
}

// canon renders a table state canonically: chains with their base and
// rule hashes, sets with their elements. Equal canonical forms mean the
// same rules and elements (handles and counters aside).
func canon(st *nft.TableState) string {
	if st == nil {
		return "<no table>"
	}
	var b strings.Builder
	for _, name := range sortedKeys(st.Chains) {
		c := st.Chains[name]
		fmt.Fprintf(&b, "chain %s", name)
		if c.Base != nil {
			fmt.Fprintf(&b, " %s %d %s", c.Base.Hook, c.Base.Priority, c.Base.Policy)
		}
		fmt.Fprintf(&b, ": %s\n", strings.Join(c.Hashes(), " "))
	}
	for _, name := range sortedKeys(st.Sets) {
		s := st.Sets[name]
		fmt.Fprintf(&b, "set %s %s: %v %v\n", name, s.Type, s.Elements, s.Tuples)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// missingRules counts the rules of want (by hash, per chain, with
// multiplicity) that have does not hold, and the set elements it lacks.
func missingRules(want, have *nft.TableState) int {
	if want == nil {
		return 0
	}
	n := 0
	for name, wc := range want.Chains {
		count := map[string]int{}
		if have != nil && have.Chains[name] != nil {
			for _, h := range have.Chains[name].Hashes() {
				count[h]++
			}
		}
		for _, h := range wc.Hashes() {
			if count[h] > 0 {
				count[h]--
			} else {
				n++
			}
		}
	}
	for name, ws := range want.Sets {
		var hs *nft.SetState
		if have != nil {
			hs = have.Sets[name]
		}
		got := map[string]bool{}
		if hs != nil {
			for _, e := range hs.Elements {
				got[e.String()] = true
			}
			for _, e := range hs.Tuples {
				got[fmt.Sprint(e)] = true
			}
		}
		for _, e := range ws.Elements {
			if !got[e.String()] {
				n++
			}
		}
		for _, e := range ws.Tuples {
			if !got[fmt.Sprint(e)] {
				n++
			}
		}
	}
	return n
}

// handles returns each chain's rule handles, to tell rewritten chains from
// untouched ones.
func handles(st *nft.TableState) map[string]string {
	out := map[string]string{}
	if st == nil {
		return out
	}
	for name, c := range st.Chains {
		hs := make([]string, len(c.Rules))
		for i, r := range c.Rules {
			hs[i] = strconv.FormatUint(r.Handle, 10)
		}
		out[name] = strings.Join(hs, ",")
	}
	return out
}

// rewritten returns the chains of before whose handles changed in after.
func rewritten(before, after map[string]string) []string {
	var out []string
	for name, h := range before {
		if after[name] != h {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// faultRows collects a test's rows of the fault table and records them
// when the test ends, marked passed unless the test failed.
type faultRows struct {
	t    *testing.T
	rows []faults.Row
}

func newFaultRows(t *testing.T) *faultRows {
	r := &faultRows{t: t}
	t.Cleanup(func() {
		if len(r.rows) == 0 && t.Failed() {
			r.rows = append(r.rows, faults.Row{Fault: t.Name() + ": failed before measuring"})
		}
		for _, row := range r.rows {
			row.Passed = !t.Failed()
			if err := faults.Record(row); err != nil {
				t.Error(err)
			}
		}
	})
	return r
}

// add records a row and logs it.
func (r *faultRows) add(row faults.Row) {
	r.t.Helper()
	r.t.Logf("FAULT %-40s attempted %5d failed %3d rules lost %3d converge %8v  %s",
		row.Fault, row.Attempted, row.Failed, row.RulesLost, row.Converge.Round(time.Millisecond), row.Notes)
	r.rows = append(r.rows, row)
}
