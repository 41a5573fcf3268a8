package datastore

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/untrackd/untrackd/model"
)

// statuses returns the distinct consecutive statuses of bs.
func statuses(bs []Batch) []Status {
	var out []Status
	for _, b := range bs {
		if len(out) == 0 || out[len(out)-1] != b.Status {
			out = append(out, b.Status)
		}
	}
	return out
}

// TestSyncerCompaction cuts the syncer's connection, changes and compacts
// etcd behind its back, and reconnects: the etcd client resumes the watch
// from a compacted revision, and the syncer must re-list and emit exactly the
// difference.
func TestSyncerCompaction(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	direct := newClient(t, e.Endpoints())
	p := startProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	cli := newClient(t, []string{p.url()})
	for _, name := range []string{"a", "b", "c", "d"} {
		mustPut(t, direct, hep(name, "eth0"))
	}
	mustPut(t, direct, netSet("s", "10.0.0.0/8"))

	log, logs := observedLogger(t, zapcore.InfoLevel)
	opts := testOptions(log)
	opts.WatchCheckInterval = time.Minute // let the client's own watch resume meet the compaction
	opts.Metrics = NewMetrics(nil)
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)

	m := c.mark()
	p.pause()
	mustPut(t, direct, hep("b", "eth1"))
	mustDelete(t, direct, hepKey("c"))
	mustPut(t, direct, hep("e", "eth0"))
	mustPut(t, direct, hep("f", "eth0"))
	mustDelete(t, direct, hepKey("f"))
	resp, err := direct.Get(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := direct.Compact(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	p.resume()

	c.waitFor(t, 15*time.Second, "re-list after compaction", func() bool {
		return c.status == InSync && slices.Contains(statuses(c.batches[m:]), ResyncInProgress)
	})
	bs := c.since(m)
	if got, want := statuses(bs), []Status{ResyncInProgress, InSync}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	// Listing order (b, e), then the keys found missing (c).
	if got, want := updateKeys(updates(bs)), []string{"b", "e", "c=nil"}; !slices.Equal(got, want) {
		t.Errorf("re-list emitted %v, want only the difference %v", got, want)
	}
	if got := c.state[hepKey("b")].(*model.HostEndpoint).Spec.InterfaceName; got != "eth1" {
		t.Errorf("b's interface = %q, want eth1", got)
	}
	if n := logs.FilterMessageSnippet("lost sync").FilterFieldKey("error").Len(); n != 1 {
		t.Errorf("%d lost-sync warnings, want 1", n)
	} else if msg := logs.FilterMessageSnippet("lost sync").All()[0].ContextMap()["error"]; !strings.Contains(msg.(string), "compacted") {
		t.Errorf("lost-sync warning says %q, want a compaction", msg)
	}
	if got := metricValue(t, opts.Metrics.resyncs); got != 1 {
		t.Errorf("resyncs_total = %v, want 1", got)
	}
	if got := metricValue(t, opts.Metrics.inSync); got != 1 {
		t.Errorf("in_sync = %v, want 1", got)
	}
}

// TestSyncerEtcdRestart stops etcd under a running syncer and starts it
// again on the same data: the syncer reports losing sync, re-lists without
// re-emitting or deleting unchanged keys, and follows later changes.
func TestSyncerEtcdRestart(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	e1 := startEtcd(t, cfg)
	cli := newClient(t, e1.Endpoints())
	for _, name := range []string{"a", "b", "c"} {
		mustPut(t, cli, hep(name, "eth0"))
	}
	log, _ := observedLogger(t, zapcore.InfoLevel)
	opts := testOptions(log)
	opts.Metrics = NewMetrics(nil)
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)

	m := c.mark()
	start := time.Now()
	e1.Close() // waits for the syncer's open watch for a few seconds
	c.waitStatus(t, WaitingForDatastore)
	if got := metricValue(t, opts.Metrics.inSync); got != 0 {
		t.Errorf("in_sync = %v while etcd is down, want 0", got)
	}
	t.Logf("stopping etcd and noticing took %s", time.Since(start))
	startEtcd(t, cfg)
	t.Cleanup(c.stop) // before closing etcd
	c.waitStatus(t, InSync)
	if got := updates(c.since(m)); len(got) != 0 {
		t.Errorf("re-list after restart emitted %v, want nothing", updateKeys(got))
	}

	mustPut(t, cli, hep("d", "eth0"))
	mustDelete(t, cli, hepKey("a"))
	c.waitFor(t, 5*time.Second, "changes after restart", func() bool {
		return c.state[hepKey("d")] != nil && c.state[hepKey("a")] == nil
	})
	if got, want := updateKeys(updates(c.since(m))), []string{"d", "a=nil"}; !slices.Equal(got, want) {
		t.Errorf("emitted %v, want %v", got, want)
	}
	if got, want := statuses(c.since(m)), []Status{WaitingForDatastore, InSync}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

// TestSyncerEtcdDownAtStart starts the syncer before etcd: it retries with
// backoff, emits nothing, warns once, and syncs when etcd comes up.
func TestSyncerEtcdDownAtStart(t *testing.T) {
	t.Parallel()
	cfg := embeddedConfig(t)
	log, logs := observedLogger(t, zapcore.DebugLevel)
	cli, err := NewClient(Config{Endpoints: []string{cfg.ClientURL}}, log) // its logs count too
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	opts := testOptions(log)
	opts.RequestTimeout = 100 * time.Millisecond
	c := runSyncer(t, NewSyncer(cli, opts))

	time.Sleep(time.Second)
	if n := c.mark(); n != 0 {
		t.Errorf("syncer emitted %d batches while etcd was down, want none", n)
	}
	attempts := logs.FilterMessageSnippet("sync").FilterLevelExact(zapcore.DebugLevel).Len() + 1
	warnings := logs.FilterLevelExact(zapcore.WarnLevel).Len()
	t.Logf("%d attempts in 1s, %d warnings", attempts, warnings)
	if attempts < 2 || attempts > 15 {
		t.Errorf("%d attempts in 1s with backoff 20ms..200ms and 100ms timeouts; want a few, not a hot loop", attempts)
	}
	if warnings != 1 {
		t.Errorf("%d warnings, want 1 (later failures at debug level)", warnings)
	}

	e := startEtcd(t, cfg)
	t.Cleanup(func() { // before closing etcd
		c.stop()
		cli.Close()
	})
	direct := newClient(t, e.Endpoints())
	mustPut(t, direct, hep("a", "eth0"))
	c.waitFor(t, 15*time.Second, "a", func() bool { return c.status == InSync && c.state[hepKey("a")] != nil })
	if n := logs.FilterMessage("in sync with etcd again").Len(); n != 1 {
		t.Errorf("%d recovery logs, want 1", n)
	}
}
