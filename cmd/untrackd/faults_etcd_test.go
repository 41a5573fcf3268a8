package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/cmd/internal/faults"
)

// waitLostSync waits until readiness reports the lost sync and returns how
// long that took.
func (b *faultBed) waitLostSync(timeout time.Duration) time.Duration {
	b.t.Helper()
	return b.waitFor("readiness to report the lost sync", timeout, func() bool {
		code, body := b.readiness()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "datastore lost sync")
	})
}

// checkLive fails the test unless the daemon reports live.
func (b *faultBed) checkLive(when string) {
	b.t.Helper()
	if code, body := nsFetch(b.web, healthURL+"/liveness"); code != http.StatusOK {
		b.t.Errorf("not live %s: %d %s", when, code, body)
	}
}

// untouched are chains no etcd fault in these tests may rewrite.
var untouched = []string{"raw-prerouting", "raw-output", "failsafe-raw-in", "failsafe-raw-out", "failsafe-in", "failsafe-out",
	"pol-untracked-in-memcached-server", "pol-untracked-out-memcached-server", "filter-input", "filter-output"}

// checkUntouched fails the test if any chain in untouched was rewritten.
func (b *faultBed) checkUntouched(before, after map[string]string) {
	b.t.Helper()
	for _, c := range untouched {
		if before[c] != after[c] {
			b.t.Errorf("chain %s rewritten: handles %s → %s", c, before[c], after[c])
		}
	}
}

// freshStartMatches stops the daemon, deletes untrackd's table and starts
// the daemon again on an empty kernel: the table it programs from scratch
// must equal the one the fault test converged to.
func (b *faultBed) freshStartMatches(what string) {
	b.t.Helper()
	converged := canon(b.list())
	b.kill(syscall.SIGKILL)
	b.nft("delete", "table", "inet", "untrackd")
	b.start()
	b.waitReady(60 * time.Second)
	var fresh string
	deadline := time.Now().Add(10 * time.Second)
	for fresh = canon(b.list()); fresh != converged && time.Now().Before(deadline); fresh = canon(b.list()) {
		time.Sleep(50 * time.Millisecond)
	}
	if fresh != converged {
		b.t.Errorf("%s: the converged table differs from a fresh start's:\nconverged:\n%s\nfresh:\n%s", what, converged, fresh)
	}
}

// TestFaultEtcdStopped stops etcd for a while and starts it again: the
// dataplane stays exactly as it was, traffic is unaffected, readiness
// reports the lost sync (liveness stays), and once etcd is back untrackd is
// in sync again, rewriting nothing but what a change written at that moment
// needs.
func TestFaultEtcdStopped(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{})
	tr := b.startTraffic()
	time.Sleep(200 * time.Millisecond)
	before := b.list()
	hs := handles(before)
	sampler := b.sampleRules(before)
	t0 := tr.snapshot()

	// Stop etcd: the proxy cuts the daemon's connections and, with etcd
	// gone, closes new ones at once (as a refused connection would).
	b.proxy.setUp(false)
	b.etcd.stop()
	b.proxy.setUp(true)
	detect := b.waitLostSync(90 * time.Second)
	time.Sleep(2 * time.Second)
	b.checkLive("while etcd is stopped")
	// etcd comes back, and a policy is written at once (through a fresh
	// client, so that the test's own reconnection does not count):
	// converged when untrackd is ready and the policy is in the kernel.
	b.etcd.start()
	start := time.Now()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + b.etcd.addr}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := b.etcd.ctx()
	_, err = cli.Put(ctx, keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	cancel()
	_ = cli.Close()
	if err != nil {
		t.Fatal(err)
	}
	readyAfter := b.waitReady(90 * time.Second)
	b.waitFor("the policy written when etcd came back", 30*time.Second, func() bool {
		return b.ready() && b.list().Chains["pol-untracked-in-deny-port"] != nil
	})
	converge := time.Since(start)
	lost, samples := sampler.stop()
	res := tr.snapshot().since(t0)
	if got := rewritten(hs, handles(b.list())); len(got) != 0 && !slices.Equal(got, []string{"hep-untracked-in-memcached-node-1-eth0"}) {
		t.Errorf("rewritten after etcd came back: %v", got)
	}
	if lost != 0 || res.failed != 0 || res.longFail != 0 {
		t.Errorf("while etcd was stopped: %d rules lost (%d samples); %v", lost, samples, res)
	}
	resyncs := b.metric("untrackd_datastore_resyncs_total")
	tr.stop()
	b.rows.add(faults.Row{Fault: "etcd stopped, then restarted", Attempted: res.attempted, Failed: res.failed + res.longFail, RulesLost: lost,
		Converge: converge, Notes: fmt.Sprintf("not ready %v after the stop; etcd back → ready in %v, and a policy written then applied in %v; %v resyncs; %d samples",
			detect.Round(time.Millisecond), readyAfter.Round(time.Millisecond), converge.Round(time.Millisecond), resyncs, samples)})
}

// TestFaultEtcdPartition drops every packet between untrackd and etcd in
// the kernel (a blackhole: no reset, connections just go silent) while
// resources change in etcd: the dataplane stays as it was, readiness
// reports the lost sync once untrackd notices the silence, and after the
// partition heals untrackd converges to the current resources, rewriting
// only what changed, to exactly the table a fresh start programs.
func TestFaultEtcdPartition(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{})
	tr := b.startTraffic()
	time.Sleep(200 * time.Millisecond)
	before := b.list()
	hs := handles(before)
	sampler := b.sampleRules(before)
	t0 := tr.snapshot()

	b.nft("add", "table", "inet", "partition")
	b.nft("add chain inet partition out { type filter hook output priority -500; policy accept; }")
	b.nft("add rule inet partition out oifname lo tcp dport 2379 drop")
	b.nft("add rule inet partition out oifname lo tcp sport 2379 drop")
	detect := b.waitLostSync(90 * time.Second)
	b.checkLive("during the partition")
	// Changes while untrackd is cut off: a new untracked policy (new
	// chains) and a new client network (a set element).
	b.etcd.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	b.etcd.put(keyPrefix+"globalnetworksets/extra-clients", extraClientsGNS)
	time.Sleep(2 * time.Second)
	if got := canon(b.list()); got != canon(before) {
		t.Errorf("table changed during the partition:\n%s", got)
	}
	b.nft("delete", "table", "inet", "partition")
	converge := b.waitFor("the changes made during the partition", 120*time.Second, func() bool {
		st := b.list()
		return b.ready() && st.Chains["pol-untracked-in-deny-port"] != nil && strings.Contains(canon(st), "10.77.0.50")
	})
	lost, samples := sampler.stop()
	res := tr.snapshot().since(t0)
	tr.stop()
	after := handles(b.list())
	b.checkUntouched(hs, after)
	if lost != 0 || res.failed != 0 || res.longFail != 0 {
		t.Errorf("partition: %d rules lost (%d samples); %v", lost, samples, res)
	}
	if f := b.cli.TCPConnect(srvIP+":12213", 300*time.Millisecond); f == nil {
		t.Error("the deny policy written during the partition does not deny")
	}
	b.freshStartMatches("after the partition")
	b.rows.add(faults.Row{Fault: "etcd partition (packets dropped)", Attempted: res.attempted, Failed: res.failed + res.longFail, RulesLost: lost,
		Converge: converge, Notes: fmt.Sprintf("not ready %v after the cut; healed → changes made meanwhile applied; rewritten: %v; = fresh start",
			detect.Round(time.Millisecond), rewritten(hs, after))})
}

// TestFaultEtcdCompaction compacts etcd's history past the revision
// untrackd's watch had reached while a writer keeps changing a network
// set: untrackd re-lists, applies only the differences (set elements; no
// chain is rewritten), and ends with exactly the table a fresh start
// programs.
func TestFaultEtcdCompaction(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{})
	tr := b.startTraffic()
	hs := handles(b.list())
	t0 := tr.snapshot()
	resyncs0 := b.metric("untrackd_datastore_resyncs_total")
	ops0 := b.metric("untrackd_dataplane_operations_total")

	// The writer: a clients' network set whose two addresses move on
	// every 10ms.
	churn := func(i int) string {
		return fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"churn","labels":{"memcached":"client"}},"spec":{"nets":["10.88.%d.1/32","10.88.%d.2/32"]}}`, i%250, (i+1)%250)
	}
	var writes atomic.Int64
	var last atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := b.etcd.cli.Put(ctx, keyPrefix+"globalnetworksets/churn", churn(i))
			cancel()
			if err == nil {
				writes.Add(1)
				last.Store(int64(i))
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	// Cut untrackd off, let the writer go on, compact everything it has not
	// seen, and reconnect: its watch resumes at a compacted revision.
	b.proxy.setUp(false)
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	resp, err := b.etcd.cli.Get(ctx, "x")
	if err == nil {
		_, err = b.etcd.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical())
	}
	cancel()
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	b.proxy.setUp(true)
	start := time.Now()
	b.waitFor("a re-list", 60*time.Second, func() bool { return b.metric("untrackd_datastore_resyncs_total") > resyncs0 })
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	want := fmt.Sprintf("10.88.%d.1", last.Load()%250)
	b.waitFor("the last write", 30*time.Second, func() bool { return b.ready() && strings.Contains(canon(b.list()), want) })
	converge := time.Since(start)
	res := tr.snapshot().since(t0)
	tr.stop()
	if got := rewritten(hs, handles(b.list())); len(got) != 0 {
		t.Errorf("chains rewritten by the re-list: %v", got)
	}
	compacted := false
	for _, l := range b.logLines(b.d, "lost sync with etcd") {
		compacted = compacted || strings.Contains(fmt.Sprint(l["error"]), "compacted")
	}
	if !compacted {
		t.Errorf("no log of the compacted watch")
	}
	if res.failed != 0 || res.longFail != 0 {
		t.Errorf("during compaction: %v", res)
	}
	ops := b.metric("untrackd_dataplane_operations_total") - ops0
	if ops > 6*float64(writes.Load()) {
		t.Errorf("%v kernel operations for %d writes", ops, writes.Load())
	}
	b.freshStartMatches("after the compaction")
	b.rows.add(faults.Row{Fault: "etcd history compacted under the watch", Attempted: res.attempted, Failed: res.failed + res.longFail,
		Converge: converge, Notes: fmt.Sprintf("%d writes meanwhile; reconnect → re-listed and converged; %v kernel ops in all, no chain rewritten; = fresh start",
			writes.Load(), ops)})
}
