package datastore

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/untrackd/untrackd/model"
)

const msgInvalid = "ignoring invalid resource in etcd; treating it as absent"

// TestSyncerInvalidValues checks that invalid keys and values are logged
// once per change, counted by reason, treated as absent, and never stop the
// valid resources; and that a re-list neither re-logs nor re-emits them.
func TestSyncerInvalidValues(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	direct := newClient(t, e.Endpoints())
	p := startProxy(t, strings.TrimPrefix(e.Endpoints()[0], "http://"))
	cli := newClient(t, []string{p.url()})

	hepPrefix := model.KindPrefix(model.KindHostEndpoint)
	gnpPrefix := model.KindPrefix(model.KindGlobalNetworkPolicy)
	invalid := []struct {
		key, value string
		kind       model.Kind
		reason     string
	}{
		{hepPrefix + "bad-json", `{"apiVersion":`, model.KindHostEndpoint, reasonDecode},
		{hepPrefix + "unknown-field", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"unknown-field"},"spec":{"node":"n","interfaceName":"eth0","bogus":1}}`, model.KindHostEndpoint, reasonDecode},
		{hepPrefix + "wrong-kind", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"wrong-kind"},"spec":{}}`, model.KindHostEndpoint, reasonKey},
		{hepPrefix + "name-mismatch", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"other"},"spec":{"node":"n","interfaceName":"eth0"}}`, model.KindHostEndpoint, reasonKey},
		{hepPrefix + "no-interface", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"no-interface"},"spec":{"node":"n"}}`, model.KindHostEndpoint, reasonValidate},
		{hepPrefix + "ns/namespaced", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"namespaced"},"spec":{"node":"n","interfaceName":"eth0"}}`, model.KindHostEndpoint, reasonKey},
		{hepPrefix + "Bad_Name", `{}`, model.KindHostEndpoint, reasonKey},
		{gnpPrefix + "bad-port", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"bad-port"},"spec":{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[99999]}}]}}`, model.KindGlobalNetworkPolicy, reasonValidate},
	}
	for _, c := range invalid {
		mustPutRaw(t, direct, c.key, c.value)
	}
	mustPutRaw(t, direct, model.KeyPrefix+"ippools/default-ipv4", `not even JSON`)
	mustPut(t, direct, hep("good", "eth0"))
	mustPut(t, direct, hep("flip", "eth0"))

	log, logs := observedLogger(t, zapcore.WarnLevel)
	reg := prometheus.NewRegistry()
	opts := testOptions(log)
	opts.Metrics = NewMetrics(reg)
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)

	if got, want := updateKeys(updates(c.since(0))), []string{"flip", "good"}; !slices.Equal(got, want) {
		t.Errorf("first listing emitted %v, want only the valid %v", got, want)
	}
	entries := logs.FilterMessage(msgInvalid).All()
	if len(entries) != len(invalid) {
		t.Errorf("got %d invalid-resource warnings, want %d (one per invalid key)", len(entries), len(invalid))
	}
	byKey := map[string]string{}
	for _, en := range entries {
		f := en.ContextMap()
		byKey[f["key"].(string)] = f["reason"].(string)
	}
	for _, c := range invalid {
		if byKey[c.key] != c.reason {
			t.Errorf("%s: logged reason %q, want %q", c.key, byKey[c.key], c.reason)
		}
	}
	wantCount := map[[2]string]float64{}
	for _, c := range invalid {
		wantCount[[2]string{string(c.kind), c.reason}]++
	}
	for _, k := range model.Kinds {
		for _, r := range rejectReasons {
			got := metricValue(t, opts.Metrics.rejected.WithLabelValues(string(k), r))
			if want := wantCount[[2]string{string(k), r}]; got != want {
				t.Errorf("rejected{kind=%s,reason=%s} = %v, want %v", k, r, got, want)
			}
		}
	}
	if got := metricValue(t, opts.Metrics.resources.WithLabelValues(string(model.KindHostEndpoint))); got != 2 {
		t.Errorf("resources{kind=HostEndpoint} = %v, want 2", got)
	}

	// valid → invalid emits a delete; invalid → valid emits the value;
	// deleting an invalid key emits nothing; unchanged invalid keys stay quiet.
	m := c.mark()
	flipRev := mustPutRaw(t, direct, hepPrefix+"flip", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","spec":{"node":"n"}}`)
	mustPut(t, direct, hep("bad-json", "eth0"))
	mustDelete(t, direct, hepKey("unknown-field"))
	mustPutRaw(t, direct, hepPrefix+"ns/namespaced", `{}`)
	c.waitFor(t, 5*time.Second, "bad-json fixed and two new warnings", func() bool {
		return c.state[hepKey("bad-json")] != nil && logs.FilterMessage(msgInvalid).Len() >= len(invalid)+2
	})
	later := updates(c.since(m))
	if got, want := updateKeys(later), []string{"flip=nil", "bad-json"}; !slices.Equal(got, want) {
		t.Fatalf("changes emitted %v, want %v", got, want)
	}
	if later[0].Revision != flipRev {
		t.Errorf("flip's delete has revision %d, want the invalid write's %d", later[0].Revision, flipRev)
	}
	if n := logs.FilterMessage(msgInvalid).Len(); n != len(invalid)+2 {
		t.Errorf("got %d invalid-resource warnings, want %d (two new invalid writes)", n, len(invalid)+2)
	}

	// A re-list (after a lost connection) finds no differences.
	m = c.mark()
	p.pause()
	c.waitStatus(t, WaitingForDatastore)
	p.resume()
	c.waitStatus(t, InSync)
	if got := updates(c.since(m)); len(got) != 0 {
		t.Errorf("re-list emitted %v, want nothing", updateKeys(got))
	}
	if n := logs.FilterMessage(msgInvalid).Len(); n != len(invalid)+2 {
		t.Errorf("re-list logged again: %d invalid-resource warnings, want %d", n, len(invalid)+2)
	}
	for _, en := range logs.All() {
		if strings.Contains(fmt.Sprint(en.ContextMap()), "ippools") {
			t.Errorf("another kind's key was read: %v", en)
		}
	}
}

// TestSyncerManyInvalid checks that 10,000 invalid resources among a few
// valid ones neither stop nor slow down the valid ones much.
func TestSyncerManyInvalid(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	cli := newClient(t, e.Endpoints())
	const n = 10000
	var ops []clientv3.Op
	for i := range n {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("%sbad-%05d", model.KindPrefix(model.KindGlobalNetworkSet), i), `{"kind":`))
		if len(ops) == 128 || i == n-1 {
			txn(t, cli, ops...)
			ops = ops[:0]
		}
	}
	for i := range 3 {
		mustPut(t, cli, netSet(fmt.Sprintf("good-%d", i), "192.0.2.0/24"))
	}

	core, logs := observer.New(zapcore.WarnLevel) // not teed to the test log: 10,000 lines
	opts := testOptions(zap.New(core))
	opts.Metrics = NewMetrics(nil)
	start := time.Now()
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)
	t.Logf("initial sync of %d invalid + 3 valid keys took %s", n, time.Since(start))
	if len(c.state) != 3 {
		t.Errorf("state has %v, want the 3 valid sets", c.names())
	}
	if got := metricValue(t, opts.Metrics.rejected.WithLabelValues(string(model.KindGlobalNetworkSet), reasonDecode)); got != n {
		t.Errorf("rejected = %v, want %d", got, n)
	}
	if got := logs.FilterMessage(msgInvalid).Len(); got != n {
		t.Errorf("%d warnings, want %d", got, n)
	}
	mustPut(t, cli, netSet("later", "198.51.100.0/24"))
	c.waitFor(t, 5*time.Second, "later set", func() bool { return len(c.state) == 4 })
}
