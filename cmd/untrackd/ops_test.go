package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
	"github.com/untrackd/untrackd/datastore"
	"github.com/untrackd/untrackd/model"
)

// felixUpdate is a datastore update of FelixConfiguration name.
func felixUpdate(t *testing.T, name, spec string) datastore.Update {
	t.Helper()
	key := model.Key{Kind: model.KindFelixConfiguration, Name: name}
	if spec == "" {
		return datastore.Update{Key: key}
	}
	r, err := model.DecodeKey(key, []byte(`{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"`+name+`"},"spec":`+spec+`}`))
	if err != nil {
		t.Fatal(err)
	}
	return datastore.Update{Key: key, Value: r}
}

// testConfig parses args and then puts the servers on free ports as if
// those were the defaults, so that FelixConfiguration may still move them.
func testConfig(t *testing.T, args ...string) *config {
	t.Helper()
	c, err := parseConfig("run", append([]string{"--node-name", "n1"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	if !c.origins.Local(flagHealthPort) {
		c.HealthPort = 0
	}
	if !c.origins.Local(flagMetricsPort) {
		c.MetricsPort = 0
	}
	return c
}

func TestResolvePrecedence(t *testing.T) {
	t.Setenv("UNTRACKD_HEALTH_HOST", "127.0.0.2")
	c := testConfig(t, "--log-level", "warn")
	f := &felixConfigs{node: "n1"}
	def := felixUpdate(t, "default", `{"logSeverityScreen":"Debug","healthHost":"0.0.0.0","healthPort":9199,"prometheusMetricsPort":9191,"nftablesRefreshInterval":"30s"}`)
	f.update(def.Key, def.Value)
	u := felixUpdate(t, "node.n1", `{"prometheusMetricsPort":9291,"prometheusGoMetricsEnabled":false}`)
	f.update(u.Key, u.Value)
	if other := felixUpdate(t, "node.n2", `{"healthPort":1}`); f.update(other.Key, other.Value) {
		t.Error("another node's FelixConfiguration was taken")
	}
	rc := resolve(c, f)
	want := map[string]string{
		"LogLevel":       "warn from --log-level",
		"HealthHost":     "127.0.0.2 from UNTRACKD_HEALTH_HOST",
		"HealthPort":     "9199 from FelixConfiguration default",
		"MetricsPort":    "9291 from FelixConfiguration node.n1",
		"GoMetrics":      "false from FelixConfiguration node.n1",
		"ProcessMetrics": "true from default",
		"Refresh":        "30s from FelixConfiguration default",
	}
	got := map[string]string{
		"LogLevel":       rc.LogLevel.Value.String() + " from " + rc.LogLevel.From,
		"HealthHost":     rc.HealthHost.Value + " from " + rc.HealthHost.From,
		"HealthPort":     strconv.Itoa(rc.HealthPort.Value) + " from " + rc.HealthPort.From,
		"MetricsPort":    strconv.Itoa(rc.MetricsPort.Value) + " from " + rc.MetricsPort.From,
		"GoMetrics":      strconv.FormatBool(rc.GoMetrics.Value) + " from " + rc.GoMetrics.From,
		"ProcessMetrics": strconv.FormatBool(rc.ProcessMetrics.Value) + " from " + rc.ProcessMetrics.From,
		"Refresh":        rc.RefreshInterval.Value.String() + " from " + rc.RefreshInterval.From,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s, want %s", k, got[k], w)
		}
	}
	// Without FelixConfiguration, the defaults.
	rc = resolve(c, nil)
	if rc.HealthPort.From != "default" || rc.LogLevel.From != "--log-level" {
		t.Errorf("no FelixConfiguration: %+v", rc)
	}
}

// TestOpsFollowsFelixConfiguration checks that FelixConfiguration takes
// effect only once the datastore is in sync, moves the servers and the log
// level live, and that a changed refresh interval waits for a restart.
func TestOpsFollowsFelixConfiguration(t *testing.T) {
	c := testConfig(t)
	log := zaptest.NewLogger(t, zaptest.Level(zapcore.DebugLevel))
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	o, err := newOps(c, log, level, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	healthAddr, metricsAddr := o.health.Addr(), o.prom.Addr()
	if healthAddr == "" || metricsAddr == "" {
		t.Fatalf("servers not started: %q %q", healthAddr, metricsAddr)
	}
	if code, body := httpGet(t, "http://"+healthAddr+"/readiness"); code != http.StatusServiceUnavailable || !strings.Contains(body, "datastore not yet in sync") {
		t.Errorf("readiness before sync: %d %q", code, body)
	}

	// A listing in progress: FelixConfiguration is recorded, not applied.
	o.datastoreBatch(datastore.Batch{Status: datastore.ResyncInProgress, Updates: []datastore.Update{
		felixUpdate(t, "default", `{"logSeverityScreen":"Debug","prometheusMetricsEnabled":false,"nftablesRefreshInterval":"15s"}`),
	}})
	if level.Level() != zapcore.InfoLevel || o.prom.Addr() == "" {
		t.Fatal("FelixConfiguration applied before the datastore was in sync")
	}
	select {
	case <-o.firstSync:
		t.Fatal("first sync reported early")
	default:
	}
	o.datastoreBatch(datastore.Batch{Status: datastore.InSync})
	if level.Level() != zapcore.DebugLevel || o.prom.Addr() != "" {
		t.Errorf("after sync: level %v, metrics at %q; want debug and off", level.Level(), o.prom.Addr())
	}
	select {
	case d := <-o.firstSync:
		if d != 15*time.Second {
			t.Errorf("refresh interval %v, want 15s", d)
		}
	default:
		t.Fatal("first sync not reported")
	}

	// Live changes: the node's resource turns metrics back on and changes
	// the refresh interval, which needs a restart.
	o.datastoreBatch(datastore.Batch{Status: datastore.InSync, Updates: []datastore.Update{
		felixUpdate(t, "node.n1", `{"prometheusMetricsEnabled":true,"nftablesRefreshInterval":"1m"}`),
	}})
	if o.prom.Addr() == "" {
		t.Error("metrics not back on")
	}
	if code, body := httpGet(t, "http://"+o.prom.Addr()+"/metrics"); code != 200 || !strings.Contains(body, "untrackd_build_info") {
		t.Errorf("metrics: %d", code)
	}
	var doc opstatus.Doc
	_, body := httpGet(t, "http://"+healthAddr+"/status")
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("status: %v\n%s", err, body)
	}
	if got := doc.Config["dataplaneRefreshInterval"]; got.Value != "15s" {
		t.Errorf("refresh interval in status %+v: want the one in use, 15s", got)
	}
	if got := doc.Config["prometheusMetricsEnabled"]; got != (opstatus.Setting{Value: "true", From: "FelixConfiguration node.n1"}) {
		t.Errorf("metrics enabled in status %+v", got)
	}
	if doc.Node != "n1" || doc.Datastore.Status != "InSync" || doc.Ready {
		t.Errorf("status %+v", doc)
	}

	// Deleting the resources restores the defaults.
	o.datastoreBatch(datastore.Batch{Status: datastore.InSync, Updates: []datastore.Update{felixUpdate(t, "default", ""), felixUpdate(t, "node.n1", "")}})
	if level.Level() != zapcore.InfoLevel || o.prom.Addr() == "" {
		t.Errorf("after delete: level %v, metrics %q", level.Level(), o.prom.Addr())
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestListenerMoves checks binding, moving, overlapping addresses, failed
// moves and turning off.
func TestListenerMoves(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hi") })
	l := newListener("test", h, zaptest.NewLogger(t))
	defer l.close()
	if err := l.set("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	first := l.Addr()
	if code, _ := httpGet(t, "http://"+first+"/"); code != 200 {
		t.Fatalf("not serving on %s", first)
	}
	// The same port through another name of the same address: the old
	// listener must make way.
	_, port, _ := net.SplitHostPort(first)
	if err := l.set("localhost:" + port); err != nil {
		t.Fatalf("move to localhost:%s: %v", port, err)
	}
	if code, _ := httpGet(t, "http://"+first+"/"); code != 200 {
		t.Fatal("not serving after an overlapping move")
	}
	// A port someone else holds: error, and the old server stays.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := l.set(busy.Addr().String()); err == nil || !strings.Contains(err.Error(), "test server: listen on") {
		t.Fatalf("move to a busy port: %v", err)
	}
	if code, _ := httpGet(t, "http://"+first+"/"); code != 200 {
		t.Fatal("old server gone after a failed move")
	}
	if err := l.set(""); err != nil || l.Addr() != "" {
		t.Fatalf("turn off: %v %q", err, l.Addr())
	}
	if _, err := net.DialTimeout("tcp", first, time.Second); err == nil {
		t.Error("still accepting after turning off")
	}
}

// TestOpsAppliesChangesSeenDuringResync checks that FelixConfiguration
// changes seen while re-listing take effect once back in sync, even if
// that batch carries no change itself.
func TestOpsAppliesChangesSeenDuringResync(t *testing.T) {
	level := zap.NewAtomicLevelAt(zapcore.InfoLevel)
	o, err := newOps(testConfig(t), zaptest.NewLogger(t), level, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	o.datastoreBatch(datastore.Batch{Status: datastore.InSync})
	<-o.firstSync
	o.datastoreBatch(datastore.Batch{Status: datastore.ResyncInProgress, Updates: []datastore.Update{
		felixUpdate(t, "node.n1", `{"logSeverityScreen":"Error"}`),
	}})
	if level.Level() != zapcore.InfoLevel {
		t.Fatal("applied during the resync")
	}
	o.datastoreBatch(datastore.Batch{Status: datastore.InSync})
	if level.Level() != zapcore.ErrorLevel {
		t.Errorf("level %v after the resync, want error", level.Level())
	}
}
