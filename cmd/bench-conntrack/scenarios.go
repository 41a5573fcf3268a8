package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

// The resources the scenarios write through etcd: the seed guide's server
// and client HostEndpoints (the client's expectedIPs are all the client's
// source addresses), a normal policy allowing the port, and the seed's
// doNotTrack policy.
func serverHEP() string {
	return `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},` +
		`"spec":{"interfaceName":"eth0","node":"` + nodeName + `","expectedIPs":["` + serverIP + `"]}}`
}

func clientHEP(sources int) string {
	var ips []string
	for i := 0; i < sources; i++ {
		ips = append(ips, `"`+clientIP(i)+`"`)
	}
	return `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-client-1-eth0","labels":{"memcached":"client"}},` +
		`"spec":{"interfaceName":"eth0","node":"memcached-client-1","expectedIPs":[` + strings.Join(ips, ",") + `]}}`
}

// normalGNP is the tracked scenario's policy: the same allow rules as the
// seed's, as a normal (stateful) policy.
func normalGNP() string {
	return fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server-tracked"},`+
		`"spec":{"order":100,"selector":"memcached == 'server'",`+
		`"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[%d]}}],`+
		`"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[%d]},"destination":{"selector":"memcached == 'client'"}}]}}`, port, port)
}

// seedGNP is the seed guide's doNotTrack policy.
func seedGNP() string {
	return fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server"},`+
		`"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,`+
		`"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[%d]}}],`+
		`"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[%d]},"destination":{"selector":"memcached == 'client'"}}]}}`, port, port)
}

// standInStateful stands for the host's stateful firewall (the normal
// policy's chains) where untrackd does not program one itself: conntrack
// only tracks in a namespace where some rule uses it.
const standInStateful = `table inet utbench-stateful {
	chain input {
		type filter hook input priority 10; policy accept;
		ct state established,related accept
	}
}
`

// handwrittenNotrack is the minimal raw-priority notrack ruleset.
func handwrittenNotrack() string {
	return fmt.Sprintf(`table inet utbench-notrack {
	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname "eth0" tcp dport %d notrack accept
	}
	chain output {
		type filter hook output priority raw; policy accept;
		oifname "eth0" tcp sport %d notrack accept
	}
}
`, port, port)
}

// result is one scenario's measurement in one round.
type result struct {
	Scenario  string  `json:"scenario"`
	Phase     string  `json:"phase"`
	Round     int     `json:"round"`
	Succeeded int64   `json:"succeeded"`
	Failed    int64   `json:"failed"`
	ConnPerS  float64 `json:"conn_per_s"`
	TargetPS  float64 `json:"target_conn_per_s,omitempty"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	// Conntrack in the server namespace: entries at the window's start and
	// end, and the table-full counters' change over the window.
	CTEntriesStart int64 `json:"ct_entries_start"`
	CTEntries      int64 `json:"ct_entries"`
	CTPortEntries  int64 `json:"ct_entries_port"` // for the memcached port, after the window
	CTDrop         int64 `json:"ct_drop"`
	CTEarlyDrop    int64 `json:"ct_early_drop"`
	CTInsertFailed int64 `json:"ct_insert_failed"`
	AtCeiling      bool  `json:"at_ceiling"`
	// CPU per 1,000 successful connections, ms: memcached's threads, the
	// server interface's receive poller (softirq work: the netfilter
	// hooks), the other kernel threads (kworkers such as conntrack's
	// garbage collector, RCU, ksoftirqd), their sum, the machine's softirq
	// time and busy time from /proc/stat (tick-sampled; client included),
	// and the client's process and poller.
	ProcMsPer1k     float64 `json:"proc_ms_per_1k"`
	RxMsPer1k       float64 `json:"rx_softirq_ms_per_1k"`
	KthreadsMsPer1k float64 `json:"kthreads_ms_per_1k"`
	CPUMsPer1k      float64 `json:"cpu_ms_per_1k"`
	SoftirqMsPer1k  float64 `json:"sys_softirq_ms_per_1k"`
	BusyMsPer1k     float64 `json:"busy_ms_per_1k"`
	ClientMsPer1k   float64 `json:"client_ms_per_1k"`
	// Stateful says what made the server namespace track: "untrackd" (its
	// normal-policy chains) or "stand-in" (the benchmark's own table, until
	// untrackd programs normal policy), or "" (nothing: scenario none).
	Stateful string           `json:"stateful,omitempty"`
	Errors   map[string]int64 `json:"errors,omitempty"`
	Client   *clientResult    `json:"-"`
}

func (r *result) line() string {
	return fmt.Sprintf("  round %d %-7s %-11s  %8.0f conn/s  ok %7d  failed %6d  p50 %6.2f ms  p99 %7.2f ms  ct %6d (port %6d)  drops %6d  cpu %6.1f ms/1k (proc %.1f + rx %.1f + kthreads %.1f)  busy %6.1f ms/1k  %s",
		r.Round, r.Phase, r.Scenario, r.ConnPerS, r.Succeeded, r.Failed, r.P50ms, r.P99ms, r.CTEntries, r.CTPortEntries,
		r.CTDrop+r.CTEarlyDrop+r.CTInsertFailed, r.CPUMsPer1k, r.ProcMsPer1k, r.RxMsPer1k, r.KthreadsMsPer1k, r.BusyMsPer1k, r.Stateful)
}

// runScenario sets the scenario up, measures it and tears it down.
func (tb *testbed) runScenario(ctx context.Context, sc, phase string, round int) (*result, error) {
	r := &result{Scenario: sc, Phase: phase, Round: round}
	daemon, err := tb.setUp(ctx, sc, r, round)
	defer tb.tearDown(daemon)
	if err != nil {
		return nil, err
	}
	if _, err := tb.srv.Exec("conntrack", "-F"); err != nil {
		return nil, err
	}
	if tb.cfg.showRules && round == 1 {
		out, _ := tb.srv.Exec("nft", "list", "ruleset")
		fmt.Printf("--- %s/%s: server ruleset ---\n%s--- end ---\n", phase, sc, out)
	}
	warmup, rate := tb.cfg.warmup, 0.0
	if phase == "ceiling" && sc == "tracked" {
		warmup = max(warmup, tb.cfg.fillWarmup)
	}
	if phase == "below" && sc == "tracked" {
		warmup = max(warmup, tb.cfg.belowLifetime+3*time.Second) // reach the steady-state table
	}
	if phase == "below" {
		rate = tb.cfg.rate
		r.TargetPS = rate
	}
	res, c0, c1, err := tb.runClient(ctx, warmup, rate)
	if err != nil {
		return nil, err
	}
	if daemon != nil {
		select {
		case <-daemon.Done():
			return nil, fmt.Errorf("untrackd exited during the measurement: %s", daemon.Tail(10))
		default:
		}
	}
	r.Client = res
	r.CTPortEntries = tb.portEntries()
	r.Succeeded, r.Failed, r.Errors = res.Succeeded, res.Failed, res.Errors
	secs := c1.at.Sub(c0.at).Seconds()
	r.ConnPerS = float64(res.Succeeded) / res.Seconds
	r.P50ms, r.P99ms = res.P50ms, res.P99ms
	if c0.ctErr == nil && c1.ctErr == nil {
		d := c1.ct.Sub(c0.ct)
		r.CTEntriesStart, r.CTEntries = c0.ct.Entries, c1.ct.Entries
		r.CTDrop, r.CTEarlyDrop, r.CTInsertFailed = d.Drop, d.EarlyDrop, d.InsertFailed
		r.AtCeiling = phase == "ceiling" && float64(c0.ct.Entries) >= 0.9*float64(tb.cfg.ctMax)
	}
	// Normalise by the connections completed in the counters' window
	// (which matches the client's window to within a pipe's latency).
	k := float64(res.Succeeded) / 1000 * (secs / res.Seconds)
	if k > 0 {
		per := func(d time.Duration) float64 { return d.Seconds() * 1000 / k }
		r.ProcMsPer1k = per(c1.mc - c0.mc)
		r.RxMsPer1k = per(c1.srvNAPI - c0.srvNAPI)
		skip := append(append([]int{}, tb.srvNAPI...), tb.cliNAPI...)
		r.KthreadsMsPer1k = per(bench.KernelThreadsDelta(c0.kthreads, c1.kthreads, skip))
		r.CPUMsPer1k = r.ProcMsPer1k + r.RxMsPer1k + r.KthreadsMsPer1k
		sys := c1.sys.Sub(c0.sys)
		r.SoftirqMsPer1k = per(sys.Softirq)
		r.BusyMsPer1k = per(sys.Busy)
		if c0.clientOK && c1.clientOK {
			r.ClientMsPer1k = per(c1.client - c0.client + c1.cliNAPI - c0.cliNAPI)
		}
	}
	return r, nil
}

// setUp programs the scenario's rules and returns the untrackd it started
// (nil for none and handwritten).
func (tb *testbed) setUp(ctx context.Context, sc string, r *result, round int) (*bench.Proc, error) {
	switch sc {
	case "none":
		return nil, nil
	case "handwritten":
		r.Stateful = "stand-in"
		return nil, bench.Nft(tb.srv, standInStateful+handwrittenNotrack())
	}
	etcdDir := filepath.Join(tb.dir, fmt.Sprintf("etcd-%s-%s-%d", sc, tb.phase, round))
	daemon, err := tb.srv.Start(nil, tb.untrackd, "--embedded-etcd-dir", etcdDir, "--node-name", nodeName,
		"--log-level", "info")
	if err != nil {
		return nil, err
	}
	cli, err := bench.EtcdClient(tb.srv, "127.0.0.1:2379")
	if err != nil {
		return daemon, err
	}
	defer cli.Close()
	if err := bench.WaitEtcd(ctx, cli, 60*time.Second); err != nil {
		return daemon, fmt.Errorf("%w; untrackd: %s", err, daemon.Tail(10))
	}
	if err := bench.WaitFor(ctx, "untrackd's table", 30*time.Second, 50*time.Millisecond, func() bool {
		return strings.Contains(bench.NftTable(tb.srv, "untrackd"), "raw-prerouting")
	}); err != nil {
		return daemon, fmt.Errorf("%w; untrackd: %s", err, daemon.Tail(10))
	}
	if err := putAll(ctx, cli, tb.cfg.sources, sc); err != nil {
		return daemon, err
	}
	if sc == "untracked" {
		if err := bench.WaitFor(ctx, "the seed policy in the kernel", 30*time.Second, 20*time.Millisecond, func() bool {
			t := bench.NftTable(tb.srv, "untrackd")
			return strings.Contains(t, "pol-untracked-out-memcached-server") && strings.Contains(t, clientIP(tb.cfg.sources-1))
		}); err != nil {
			return daemon, fmt.Errorf("%w; untrackd: %s", err, daemon.Tail(10))
		}
	}
	// Whatever untrackd programs for the normal policy: wait until its table
	// has stopped changing.
	if err := waitStable(ctx, tb.srv); err != nil {
		return daemon, err
	}
	// Does untrackd's table make the namespace track by itself (its normal
	// policy chains use ct)? If not, add the stand-in stateful table.
	if usesConntrack(bench.NftTable(tb.srv, "untrackd")) {
		r.Stateful = "untrackd"
		return daemon, nil
	}
	r.Stateful = "stand-in"
	return daemon, bench.Nft(tb.srv, standInStateful)
}

func putAll(ctx context.Context, cli *clientv3.Client, sources int, sc string) error {
	kvs := [][2]string{
		{bench.KeyPrefix + "hostendpoints/memcached-node-1-eth0", serverHEP()},
		{bench.KeyPrefix + "hostendpoints/memcached-client-1-eth0", clientHEP(sources)},
		{bench.KeyPrefix + "globalnetworkpolicies/memcached-server-tracked", normalGNP()},
	}
	if sc == "untracked" {
		kvs = append(kvs, [2]string{bench.KeyPrefix + "globalnetworkpolicies/memcached-server", seedGNP()})
	}
	for _, kv := range kvs {
		if err := bench.Put(ctx, cli, kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// usesConntrack reports whether an nft listing has a rule that uses
// conntrack (which makes the namespace track).
func usesConntrack(listing string) bool {
	for _, l := range strings.Split(listing, "\n") {
		for _, f := range strings.Fields(l) {
			if f == "ct" {
				return true
			}
		}
	}
	return false
}

// waitStable waits until untrackd's table is the same for a second (at most
// 15 s).
func waitStable(ctx context.Context, ns *bench.NS) error {
	last, since := bench.NftTable(ns, "untrackd"), time.Now()
	return bench.WaitFor(ctx, "untrackd's table to settle", 15*time.Second, 100*time.Millisecond, func() bool {
		if t := bench.NftTable(ns, "untrackd"); t != last {
			last, since = t, time.Now()
		}
		return time.Since(since) >= time.Second
	})
}

// tearDown stops untrackd and empties the server namespace's ruleset and
// conntrack table (the namespace is the benchmark's own).
func (tb *testbed) tearDown(daemon *bench.Proc) {
	if daemon != nil {
		daemon.Stop(syscall.SIGTERM, 10*time.Second)
	}
	_, _ = tb.srv.Exec("nft", "flush", "ruleset")
	_, _ = tb.srv.Exec("conntrack", "-F")
}
