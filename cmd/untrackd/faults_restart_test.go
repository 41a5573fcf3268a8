package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/faults"
	"github.com/untrackd/untrackd/dataplane/nft"
)

// extraClientsGNS adds an address to the clients' IP set (a set element,
// no chain changes).
const extraClientsGNS = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"extra-clients","labels":{"memcached":"client"}},"spec":{"nets":["10.77.0.50/32"]}}`

// TestFaultRestart kills untrackd (SIGKILL, then SIGTERM) and starts it
// again while a client keeps opening connections to the untracked and the
// tracked port and a long-lived tracked connection exchanges data: no
// connection may fail, no rule may go missing, the untracked port stays
// untracked and the tracked one tracked, and the restarted daemon rewrites
// nothing. Then a restart with resources changed while it was down, which
// must write only the difference, and a restart while etcd is unreachable,
// which must leave the table alone until etcd is back.
func TestFaultRestart(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{})
	b.etcd.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	b.waitFor("the deny policy", 10*time.Second, func() bool { return b.list().Chains["pol-untracked-in-deny-port"] != nil })
	b.srv.MustExec(t, "conntrack", "-F")
	tr := b.startTraffic()
	time.Sleep(300 * time.Millisecond)

	var denyHashes []string // the deny policy's rule hashes before a round
	type round struct {
		name   string
		sig    os.Signal
		down   func()           // while the daemon is down
		up     func() time.Time // after it started; returns when convergence may start
		expect func() bool      // the converged state (besides readiness)
		chains []string         // chains the restart may rewrite
		maxOps float64          // operations the restarted daemon may write
		want   func(*nft.TableState) *nft.TableState
	}
	rounds := []round{
		{name: "restart: kill -9", sig: syscall.SIGKILL},
		{name: "restart: SIGTERM", sig: syscall.SIGTERM},
		{
			name: "restart: kill -9, resources changed while down", sig: syscall.SIGKILL,
			down: func() {
				b.etcd.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12215))
				b.etcd.put(keyPrefix+"globalnetworksets/extra-clients", extraClientsGNS)
			},
			expect: func() bool {
				st := b.list()
				return st != nil && strings.Contains(canon(st), "10.77.0.50") && !slices.Equal(st.Chains["pol-untracked-in-deny-port"].Hashes(), denyHashes)
			},
			chains: []string{"pol-untracked-in-deny-port"},
			maxOps: 10,
			// The deny policy's rules are meant to change.
			want: func(st *nft.TableState) *nft.TableState {
				c := *st
				c.Chains = map[string]*nft.ChainState{}
				for k, v := range st.Chains {
					if k != "pol-untracked-in-deny-port" {
						c.Chains[k] = v
					}
				}
				return &c
			},
		},
		{
			name: "restart: kill -9, etcd unreachable at start", sig: syscall.SIGKILL,
			down: func() { b.proxy.setUp(false) },
			up: func() time.Time {
				time.Sleep(3 * time.Second)
				if code, body := b.readiness(); code != 503 || !strings.Contains(body, "datastore not yet in sync") {
					t.Errorf("readiness while etcd is unreachable at start: %d %q", code, body)
				}
				b.proxy.setUp(true)
				return time.Now()
			},
		},
	}
	var total trafficResult
	for _, r := range rounds {
		before := b.list()
		denyHashes = before.Chains["pol-untracked-in-deny-port"].Hashes()
		hs := handles(before)
		want := before
		if r.want != nil {
			want = r.want(before)
		}
		sampler := b.sampleRules(want)
		t0 := tr.snapshot()
		old := b.d
		b.kill(r.sig)
		if r.sig == syscall.SIGTERM {
			if old.err != nil {
				t.Errorf("exit after SIGTERM: %v", old.err)
			}
			if len(b.logLines(old, "stopping; the kernel rules stay in place")) == 0 {
				t.Error("no stop message after SIGTERM")
			}
		}
		if r.down != nil {
			r.down()
		}
		time.Sleep(500 * time.Millisecond) // down for a while
		start := time.Now()
		b.start()
		if r.up != nil {
			start = r.up()
		}
		b.waitReady(60 * time.Second)
		if r.expect != nil {
			b.waitFor("the changed resources", 30*time.Second, r.expect)
		}
		converge := time.Since(start)
		time.Sleep(300 * time.Millisecond)
		lost, samples := sampler.stop()
		res := tr.snapshot().since(t0)
		after := b.list()
		if got := rewritten(hs, handles(after)); !slices.Equal(got, r.chains) && !(len(got) == 0 && len(r.chains) == 0) {
			t.Errorf("%s: rewrote chains %v, want %v", r.name, got, r.chains)
		}
		ops := b.metric("untrackd_dataplane_operations_total")
		if ops > r.maxOps {
			t.Errorf("%s: the restarted daemon wrote %v operations, want at most %v", r.name, ops, r.maxOps)
		}
		if lost != 0 {
			t.Errorf("%s: %d rules missing at some point (%d samples)", r.name, lost, samples)
		}
		if res.failed != 0 || res.longFail != 0 {
			t.Errorf("%s: %v", r.name, res)
		}
		b.rows.add(faults.Row{Fault: r.name, Attempted: res.attempted, Failed: res.failed + res.longFail, RulesLost: lost, Converge: converge,
			Notes: fmt.Sprintf("start (or etcd back) → ready; %d kernel operations after restart; chains rewritten: %v; %d samples; long-lived conn %d/%d ok",
				int(ops), r.chains, samples, res.longOK, res.longOK+res.longFail)})
		total.attempted += res.attempted
	}
	res := tr.stop()
	untracked := b.srv.ConntrackCount(t, "-p", "tcp", "--dport", portUntracked)
	tracked := b.srv.ConntrackCount(t, "-p", "tcp", "--dport", portTracked)
	okTracked := res.attemptsPerPort[portTracked] - res.perPort[portTracked]
	t.Logf("whole test: %v; conntrack entries: untracked port %d, tracked port %d (of %d tracked connections)", res, untracked, tracked, okTracked)
	if untracked != 0 {
		t.Errorf("%d conntrack entries for the untracked port across restarts", untracked)
	}
	if float64(tracked) < 0.9*float64(okTracked) {
		t.Errorf("only %d conntrack entries for %d connections to the tracked port", tracked, okTracked)
	}
}
