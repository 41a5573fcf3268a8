package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/untrackd/untrackd/dataplane/netnstest"
	"github.com/untrackd/untrackd/dataplane/nft"
)

// daemonBin is the untrackd binary built once for the kernel tests.
var (
	buildOnce sync.Once
	daemonBin string
	buildErr  error
)

func buildDaemon(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "untrackd-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		daemonBin = filepath.Join(dir, "untrackd")
		out, err := exec.Command("go", "build", "-o", daemonBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return daemonBin
}

// testbed is a memcached-style server host and a client host in two
// throwaway namespaces, the server's interface named eth0 as in the seed
// guide, with untrackd running in the server namespace on its embedded etcd.
type testbed struct {
	t        *testing.T
	srv, cli *netnstest.NS
	etcdDir  string
	daemon   *exec.Cmd
	etcd     *clientv3.Client
}

const (
	srvIP = "10.77.0.1"
	cliIP = "10.77.0.2"
)

func newTestbed(t *testing.T) *testbed {
	netnstest.RequireRoot(t)
	for _, tool := range []string{"nft", "conntrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping kernel test: %s not installed (apt-get install nftables conntrack)", tool)
		}
	}
	bin := buildDaemon(t)
	tb := &testbed{t: t, srv: netnstest.New(t, "ut-srv"), cli: netnstest.New(t, "ut-cli"), etcdDir: t.TempDir()}
	netnstest.Link(t, tb.srv, "eth0", []string{srvIP + "/24"}, tb.cli, "eth0", []string{cliIP + "/24"})
	// Conntrack only tracks in a namespace where some rule uses it; this
	// table of the test's own makes the server track (see netns-testing.md).
	tb.nft("add table inet testct")
	tb.nft("add chain inet testct in { type filter hook input priority 10; policy accept; }")
	tb.nft("add rule inet testct in ct state established counter")
	for _, port := range []string{"12211", "12212", "12213", "12214"} {
		tb.srv.TCPServe(t, srvIP+":"+port)
	}
	tb.start(bin)
	tb.etcd = tb.etcdClient()
	return tb
}

func (tb *testbed) nft(cmd string) {
	tb.t.Helper()
	tb.srv.MustExec(tb.t, "nft", strings.Fields(cmd)...)
}

func (tb *testbed) start(bin string) {
	tb.daemon = tb.srv.Start(tb.t, bin, "--embedded-etcd-dir", tb.etcdDir, "--node-name", "memcached-node-1", "--log-level", "debug")
}

// etcdClient returns a client whose connections are made inside the server
// namespace, where the embedded etcd listens on 127.0.0.1:2379.
func (tb *testbed) etcdClient() *clientv3.Client {
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var c net.Conn
		err := tb.srv.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"127.0.0.1:2379"},
		DialTimeout: 20 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial)},
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// put writes a resource exactly as an operator would with etcdctl put.
func (tb *testbed) put(key, value string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.etcd.Put(ctx, key, value); err != nil {
		tb.t.Fatalf("etcd put %s: %v", key, err)
	}
}

func (tb *testbed) del(key string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := tb.etcd.Delete(ctx, key); err != nil {
		tb.t.Fatalf("etcd delete %s: %v", key, err)
	}
}

var counterValues = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// table returns untrackd's table as the kernel lists it, counter values
// blanked (empty if absent).
func (tb *testbed) table() string {
	out, err := tb.srv.Exec("nft", "list", "table", "inet", "untrackd")
	if err != nil {
		return ""
	}
	return counterValues.ReplaceAllString(out, "counter")
}

// waitFor polls cond until it holds or the timeout passes, and returns how
// long it took.
func (tb *testbed) waitFor(what string, timeout time.Duration, cond func() bool) time.Duration {
	tb.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			tb.t.Fatalf("timed out after %v waiting for %s; table:\n%s", timeout, what, tb.table())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// connect opens n connections from the client to port and returns how many
// failed.
func (tb *testbed) connect(port string, n int, timeout time.Duration) int {
	failed := 0
	for i := 0; i < n; i++ {
		if err := tb.cli.TCPConnect(srvIP+":"+port, timeout); err != nil {
			failed++
		}
	}
	return failed
}

// tracked returns the server's conntrack entries for a destination port.
func (tb *testbed) tracked(port string) int {
	return tb.srv.ConntrackCount(tb.t, "-p", "tcp", "--dport", port)
}

// list reads untrackd's table in the server namespace through netlink
// (nil if absent).
func (tb *testbed) list() (*nft.TableState, error) {
	var st *nft.TableState
	err := tb.srv.Do(func() error {
		w, err := nft.NewNetlink()
		if err != nil {
			return err
		}
		defer w.Close()
		st, err = w.List(context.Background())
		return err
	})
	return st, err
}

// hasChain reports whether untrackd's table has the chain, quickly enough
// to time how long programming takes.
func (tb *testbed) hasChain(name string) bool {
	st, err := tb.list()
	return err == nil && st != nil && st.Chains[name] != nil
}

// handles returns the rule handles of a chain of untrackd's table.
func (tb *testbed) handles(chain string) []uint64 {
	tb.t.Helper()
	st, err := tb.list()
	if err != nil || st == nil || st.Chains[chain] == nil {
		tb.t.Fatalf("list chain %s: %v (table present: %v)", chain, err, st != nil)
	}
	var hs []uint64
	for _, r := range st.Chains[chain].Rules {
		hs = append(hs, r.Handle)
	}
	return hs
}

const (
	keyPrefix = "/calico/resources/v3/projectcalico.org/"
	seedHEP   = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["` + srvIP + `"]}}`
	clientHEP = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-client-1-eth0","labels":{"memcached":"client"}},"spec":{"interfaceName":"eth0","node":"memcached-client-1","expectedIPs":["` + cliIP + `"]}}`
	seedGNP   = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server"},"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}]}}`
)

// allowGNP is a normal (tracked) policy allowing the test ports in: a host
// endpoint denies everything else by default.
const allowGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"allow-test-ports"},"spec":{"order":100,"selector":"memcached == 'server'","ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":["12211:12214"]}}]}}`

func denyGNP(port int) string {
	return fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"deny-port"},"spec":{"order":1,"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Deny","protocol":"TCP","destination":{"ports":[%d]}}]}}`, port)
}

// TestUntrackedEndToEnd follows the seed guide on real namespaces: the
// resources are written with plain etcd puts, and the kernel's behaviour
// (conntrack entries, delivered or dropped connections, rule handles) is
// checked after each step.
func TestUntrackedEndToEnd(t *testing.T) {
	tb := newTestbed(t)
	flush := func() { tb.srv.MustExec(t, "conntrack", "-F") }

	// Before any policy, everything is tracked.
	tb.waitFor("untrackd's table", 60*time.Second, func() bool { return strings.Contains(tb.table(), "raw-prerouting") })
	flush()
	if f := tb.connect("12211", 5, 5*time.Second); f != 0 {
		t.Fatalf("%d connections failed before any policy", f)
	}
	if n := tb.tracked("12211"); n == 0 {
		t.Fatal("no conntrack entries without policy: the test namespace does not track")
	}

	// The seed guide's resources, and a normal policy for the other ports
	// (the host endpoint denies what no policy allows).
	start := time.Now()
	tb.put(keyPrefix+"globalnetworkpolicies/allow-test-ports", allowGNP)
	tb.put(keyPrefix+"hostendpoints/memcached-node-1-eth0", seedHEP)
	tb.put(keyPrefix+"hostendpoints/memcached-client-1-eth0", clientHEP)
	tb.put(keyPrefix+"globalnetworkpolicies/memcached-server", seedGNP)
	took := tb.waitFor("the seed policy in the kernel", 10*time.Second, func() bool {
		return tb.hasChain("pol-untracked-out-memcached-server")
	})
	t.Logf("etcd put of the policy → its chains in the kernel: %v (from the first put: %v)", took, time.Since(start))
	if !strings.Contains(tb.table(), cliIP) {
		t.Fatalf("client address not in the IP set:\n%s", tb.table())
	}

	flush()
	if f := tb.connect("12211", 20, 5*time.Second); f != 0 {
		t.Fatalf("%d of 20 connections to the untracked port failed", f)
	}
	if f := tb.connect("12212", 20, 5*time.Second); f != 0 {
		t.Fatalf("%d of 20 connections to the tracked port failed", f)
	}
	if n := tb.tracked("12211"); n != 0 {
		t.Fatalf("%d conntrack entries for the untracked port, want 0", n)
	}
	if n := tb.tracked("12212"); n < 20 {
		t.Fatalf("%d conntrack entries for the tracked port, want ≥ 20", n)
	}

	// An untracked Deny drops.
	tb.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	tb.waitFor("the deny policy", 10*time.Second, func() bool { return strings.Contains(tb.table(), "pol-untracked-in-deny-port") })
	if f := tb.connect("12213", 3, 300*time.Millisecond); f != 3 {
		t.Fatalf("%d of 3 connections to the denied port failed, want 3", f)
	}
	if f := tb.connect("12211", 5, 5*time.Second); f != 0 {
		t.Fatalf("the deny policy broke the untracked port: %d failures", f)
	}

	// Changing one policy leaves the other policies' chains untouched.
	seedIn := tb.handles("pol-untracked-in-memcached-server")
	seedOut := tb.handles("pol-untracked-out-memcached-server")
	denyBefore := tb.handles("pol-untracked-in-deny-port")
	tb.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12214))
	tb.waitFor("the changed deny policy", 10*time.Second, func() bool { return strings.Contains(tb.table(), "dport 12214") })
	if got := tb.handles("pol-untracked-in-memcached-server"); fmt.Sprint(got) != fmt.Sprint(seedIn) {
		t.Fatalf("unchanged policy's ingress chain rewritten: handles %v → %v", seedIn, got)
	}
	if got := tb.handles("pol-untracked-out-memcached-server"); fmt.Sprint(got) != fmt.Sprint(seedOut) {
		t.Fatalf("unchanged policy's egress chain rewritten: handles %v → %v", seedOut, got)
	}
	if got := tb.handles("pol-untracked-in-deny-port"); fmt.Sprint(got) == fmt.Sprint(denyBefore) {
		t.Fatalf("changed policy's chain kept its handles %v", got)
	}
	if f := tb.connect("12213", 3, 5*time.Second); f != 0 {
		t.Fatalf("port 12213 still denied after the change: %d failures", f)
	}

	// Deleting the policy restores tracking.
	tb.del(keyPrefix + "globalnetworkpolicies/memcached-server")
	tb.waitFor("the seed policy to go", 10*time.Second, func() bool { return !strings.Contains(tb.table(), "pol-untracked-in-memcached-server") })
	flush()
	if f := tb.connect("12211", 10, 5*time.Second); f != 0 {
		t.Fatalf("%d connections failed after deleting the policy", f)
	}
	if n := tb.tracked("12211"); n < 10 {
		t.Fatalf("%d conntrack entries after deleting the policy, want ≥ 10", n)
	}
}

// TestRestartKeepsRules kills untrackd with SIGKILL and restarts it while a
// client keeps connecting to the untracked port: no connection fails, none
// is tracked, and the restarted daemon rewrites nothing.
func TestRestartKeepsRules(t *testing.T) {
	tb := newTestbed(t)
	tb.put(keyPrefix+"hostendpoints/memcached-node-1-eth0", seedHEP)
	tb.put(keyPrefix+"hostendpoints/memcached-client-1-eth0", clientHEP)
	tb.put(keyPrefix+"globalnetworkpolicies/memcached-server", seedGNP)
	tb.waitFor("the seed policy", 60*time.Second, func() bool {
		return strings.Contains(tb.table(), "pol-untracked-out-memcached-server") && strings.Contains(tb.table(), cliIP)
	})
	tb.srv.MustExec(t, "conntrack", "-F")
	before := tb.table()
	handles := tb.handles("raw-prerouting")

	var attempts, failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			attempts.Add(1)
			if err := tb.cli.TCPConnect(srvIP+":12211", 2*time.Second); err != nil {
				failures.Add(1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	seedHandles := fmt.Sprint(tb.handles("pol-untracked-in-memcached-server"), tb.handles("pol-untracked-out-memcached-server"))
	for i, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		if err := tb.daemon.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		_, _ = tb.daemon.Process.Wait()
		time.Sleep(500 * time.Millisecond)
		if got := tb.table(); got != before {
			t.Fatalf("table changed while untrackd was down after %v:\n%s", sig, got)
		}
		tb.start(buildDaemon(t))
		// A new policy shows that the restarted daemon is in sync and
		// applying; the chains it did not need to change keep their handles.
		marker := fmt.Sprintf("marker-%d", i)
		tb.put(keyPrefix+"globalnetworkpolicies/"+marker, strings.ReplaceAll(denyGNP(1), "deny-port", marker))
		tb.waitFor("the restarted daemon to apply "+marker, 60*time.Second, func() bool {
			return strings.Contains(tb.table(), "pol-untracked-in-"+marker)
		})
		before = tb.table()
	}
	close(stop)
	<-done
	if got := fmt.Sprint(tb.handles("pol-untracked-in-memcached-server"), tb.handles("pol-untracked-out-memcached-server")); got != seedHandles {
		t.Fatalf("restarts rewrote the seed policy's chains: handles %s → %s", seedHandles, got)
	}
	if got := tb.handles("raw-prerouting"); fmt.Sprint(got) != fmt.Sprint(handles) {
		t.Fatalf("restarts rewrote raw-prerouting: handles %v → %v", handles, got)
	}
	t.Logf("%d connections across two restarts, %d failed", attempts.Load(), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d connections failed across restarts", failures.Load(), attempts.Load())
	}
	if n := tb.tracked("12211"); n != 0 {
		t.Fatalf("%d conntrack entries for the untracked port across restarts", n)
	}
}
