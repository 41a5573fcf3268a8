package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
	"github.com/untrackd/untrackd/dataplane/netnstest"
)

const (
	healthURL = "http://127.0.0.1:9099"
	ingressOK = `untrackd_untracked_policy_packets_total{action="allow",direction="ingress",policy="memcached-server"}`
	egressOK  = `untrackd_untracked_policy_packets_total{action="allow",direction="egress",policy="memcached-server"}`
	denied    = `untrackd_untracked_policy_packets_total{action="deny",direction="ingress",policy="deny-port"}`
	rejected  = `untrackd_datastore_rejected_resources_total{kind="GlobalNetworkPolicy",reason="validate"}`
)

// TestOperationsEndToEnd runs the real daemon in a namespace against an etcd
// it reaches through a proxy the test controls, with a fake systemd
// notification socket, and checks what an operator sees: readiness only
// after sync and apply, READY=1 and watchdog pings, metrics that follow
// resources and real packets, a rejected resource in metrics and logs,
// FelixConfiguration moving the metrics server and the log level live, lost
// sync turning readiness off and on again, and STOPPING=1 on SIGTERM.
func TestOperationsEndToEnd(t *testing.T) {
	netnstest.RequireRoot(t)
	for _, tool := range []string{"nft", "conntrack"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping kernel test: %s not installed (apt-get install nftables conntrack)", tool)
		}
	}
	bin := buildDaemon(t)
	etcd, etcdAddr := rootEtcd(t)
	srv, cli := netnstest.New(t, "ut-osrv"), netnstest.New(t, "ut-ocli")
	netnstest.Link(t, srv, "eth0", []string{srvIP + "/24"}, cli, "eth0", []string{cliIP + "/24"})
	srv.MustExec(t, "ip", "link", "set", "lo", "up")
	srv.MustExec(t, "nft", "add", "table", "inet", "testct")
	srv.MustExec(t, "nft", "add chain inet testct in { type filter hook input priority 10; policy accept; }")
	srv.MustExec(t, "nft", "add rule inet testct in ct state established counter")
	for _, port := range []string{"12211", "12212", "12213"} {
		srv.TCPServe(t, srvIP+":"+port)
	}
	proxy := startEtcdProxy(t, srv, "127.0.0.1:2379", etcdAddr)
	sock, notes := notifySocket(t)
	d := startDaemonIn(t, srv, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"}, bin,
		"--node-name", "memcached-node-1", "--etcd-endpoints", "http://127.0.0.1:2379", "--log-format", "json")
	web := nsHTTP(srv)

	// Up but not ready while etcd cannot be reached; live all along.
	pollFor(t, 30*time.Second, func() string {
		code, body := nsFetch(web, healthURL+"/liveness")
		return unless(code == http.StatusOK, "liveness %d %s", code, body)
	})
	if code, body := nsFetch(web, healthURL+"/readiness"); code != http.StatusServiceUnavailable || !strings.Contains(body, "datastore not yet in sync") {
		t.Fatalf("readiness before etcd is reachable: %d %q", code, body)
	}
	if m := scrapeMetrics(t, web, "9091"); m["untrackd_health_ready"] != 0 || m["untrackd_datastore_in_sync"] != 0 {
		t.Errorf("before sync: ready %v, in sync %v", m["untrackd_health_ready"], m["untrackd_datastore_in_sync"])
	}
	select {
	case n := <-notes:
		if strings.Contains(n, "READY=1") {
			t.Fatalf("READY=1 before the first sync: %q", n)
		}
	case <-time.After(500 * time.Millisecond):
	}

	// etcd reachable: in sync, first apply, ready, READY=1, watchdog pings.
	start := time.Now()
	proxy.setUp(true)
	pollFor(t, 60*time.Second, func() string {
		code, body := nsFetch(web, healthURL+"/readiness")
		return unless(code == http.StatusOK, "readiness %d %s", code, body)
	})
	t.Logf("etcd reachable → ready in %v", time.Since(start).Round(time.Millisecond))
	expectMessage(t, notes, "READY=1", 10*time.Second)
	expectMessage(t, notes, "WATCHDOG=1", 10*time.Second)

	// Resources: the seed guide's, a normal policy for the test ports and an
	// untracked deny.
	put := func(key, value string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := etcd.Put(ctx, key, value); err != nil {
			t.Fatal(err)
		}
	}
	put(keyPrefix+"globalnetworkpolicies/allow-test-ports", allowGNP)
	put(keyPrefix+"hostendpoints/memcached-node-1-eth0", seedHEP)
	put(keyPrefix+"hostendpoints/memcached-client-1-eth0", clientHEP)
	put(keyPrefix+"globalnetworkpolicies/memcached-server", seedGNP)
	put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	pollFor(t, 20*time.Second, func() string {
		m := scrapeMetrics(t, web, "9091")
		return unless(m[`untrackd_datastore_resources{kind="HostEndpoint"}`] == 2 && m["untrackd_dataplane_endpoints"] == 1 &&
			m[`untrackd_datastore_resources{kind="GlobalNetworkPolicy"}`] == 3 && m["untrackd_dataplane_policies"] == 3,
			"resources not reflected in metrics: %v", seriesWithPrefix(m, "untrackd_datastore_resources", "untrackd_dataplane_"))
	})

	// Real packets through the rules: counters per policy, direction and
	// action; conntrack entries for the tracked port only.
	srv.MustExec(t, "conntrack", "-F")
	for i := 0; i < 10; i++ {
		if err := cli.TCPConnect(srvIP+":12211", 5*time.Second); err != nil {
			t.Fatalf("untracked port: %v", err)
		}
		if err := cli.TCPConnect(srvIP+":12212", 5*time.Second); err != nil {
			t.Fatalf("tracked port: %v", err)
		}
	}
	if err := cli.TCPConnect(srvIP+":12213", 300*time.Millisecond); err == nil {
		t.Fatal("denied port accepted a connection")
	}
	m := scrapeMetrics(t, web, "9091")
	if m[ingressOK] < 30 || m[egressOK] < 20 || m[denied] < 1 {
		t.Errorf("policy counters: %v", seriesWithPrefix(m, "untrackd_untracked_policy_packets_total"))
	}
	if b := m[strings.Replace(ingressOK, "packets", "bytes", 1)]; b < 40*m[ingressOK] {
		t.Errorf("ingress bytes %v for %v packets", b, m[ingressOK])
	}
	if m["untrackd_conntrack_entries"] < 10 || m["untrackd_conntrack_entries_limit"] < m["untrackd_conntrack_entries"] {
		t.Errorf("conntrack: %v entries, limit %v", m["untrackd_conntrack_entries"], m["untrackd_conntrack_entries_limit"])
	}
	if m["untrackd_dataplane_apply_duration_seconds_count"] < 1 || m["untrackd_calc_updates_total"] < 5 || m["untrackd_datastore_watch_events_total"] < 5 {
		t.Errorf("activity: %v", seriesWithPrefix(m, "untrackd_dataplane_apply_duration_seconds_count", "untrackd_calc_updates_total", "untrackd_datastore_watch_events_total"))
	}

	// A rejected resource: counted by kind and reason, logged with its key.
	badKey := keyPrefix + "globalnetworkpolicies/bad-port"
	put(badKey, strings.ReplaceAll(denyGNP(99999), "deny-port", "bad-port"))
	pollFor(t, 10*time.Second, func() string {
		return unless(scrapeMetrics(t, web, "9091")[rejected] == 1, "rejected resource not counted")
	})
	if logs := d.out.String(); !strings.Contains(logs, `"key":"`+badKey+`"`) || !strings.Contains(logs, "99999") {
		t.Errorf("no log line with the rejected key %s", badKey)
	}

	// /status: the endpoint with its policies, when they were applied.
	var st opstatus.Doc
	if code, body := nsFetch(web, healthURL+"/status"); code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("status: %d %s", code, body)
	}
	if !st.Ready || !st.Live || len(st.Endpoints) != 1 || st.Dataplane.LastSuccessAt == nil {
		t.Fatalf("status %+v", st)
	}
	e := st.Endpoints[0]
	if e.Name != "memcached-node-1-eth0" || e.Interface != "eth0" || !slices.Contains(e.Untracked.Ingress, "memcached-server") ||
		!slices.Contains(e.Untracked.Ingress, "deny-port") || e.AppliedAt.IsZero() || e.Error != "" {
		t.Errorf("endpoint %+v", e)
	}

	// FelixConfiguration: the metrics server moves and debug logs start.
	put(keyPrefix+"felixconfigurations/default", `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"logSeverityScreen":"Debug","prometheusMetricsPort":9191}}`)
	pollFor(t, 10*time.Second, func() string {
		code, _ := nsFetch(web, "http://127.0.0.1:9191/metrics")
		return unless(code == http.StatusOK, "metrics not on 9191")
	})
	if code, _ := nsFetch(web, "http://127.0.0.1:9091/metrics"); code != 0 {
		t.Errorf("metrics still served on 9091 (%d)", code)
	}
	pollFor(t, 10*time.Second, func() string {
		return unless(strings.Contains(d.out.String(), `"level":"debug"`), "no debug log after logSeverityScreen: Debug")
	})

	// Lost sync: not ready, still live; back in sync: ready again.
	lost := time.Now()
	proxy.setUp(false)
	pollFor(t, 60*time.Second, func() string {
		code, body := nsFetch(web, healthURL+"/readiness")
		return unless(code == http.StatusServiceUnavailable && strings.Contains(body, "datastore lost sync"), "readiness %d %s", code, body)
	})
	if code, body := nsFetch(web, healthURL+"/liveness"); code != http.StatusOK {
		t.Errorf("not live while etcd is unreachable: %s", body)
	}
	t.Logf("etcd cut → not ready in %v", time.Since(lost).Round(time.Millisecond))
	back := time.Now()
	proxy.setUp(true)
	pollFor(t, 60*time.Second, func() string {
		code, body := nsFetch(web, healthURL+"/readiness")
		return unless(code == http.StatusOK, "readiness %d %s", code, body)
	})
	t.Logf("etcd back → ready in %v", time.Since(back).Round(time.Millisecond))

	// SIGTERM: STOPPING=1, a clean exit, the rules stay.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expectMessage(t, notes, "STOPPING=1", 10*time.Second)
	select {
	case <-d.done:
		if d.err != nil {
			t.Errorf("exit after SIGTERM: %v", d.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("untrackd did not exit after SIGTERM")
	}
	if out, err := srv.Exec("nft", "list", "chain", "inet", "untrackd", "pol-untracked-in-memcached-server"); err != nil {
		t.Errorf("rules gone after stop: %v %s", err, out)
	}
}

// scrapeMetrics scrapes the daemon's metrics on port (inside the namespace).
func scrapeMetrics(t *testing.T, web *http.Client, port string) map[string]float64 {
	t.Helper()
	m, err := scrapeText(web, "http://127.0.0.1:"+port+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// seriesWithPrefix returns the samples whose series start with one of the prefixes.
func seriesWithPrefix(m map[string]float64, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				out[k] = v
			}
		}
	}
	return out
}

// unless returns "" when ok, else the formatted complaint.
func unless(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}
