package datastore

import (
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/model"
)

// TestSyncerListThenWatch checks the first listing (one revision, paginated,
// each key once, InSync only on its last Batch, other kinds never read) and
// that later puts and deletes arrive with their revisions.
func TestSyncerListThenWatch(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	cli := newClient(t, e.Endpoints())

	var want []string
	for i := range 12 {
		name := fmt.Sprintf("hep-%02d", i)
		mustPut(t, cli, hep(name, "eth0"))
		want = append(want, "HostEndpoint/"+name)
	}
	for i := range 3 {
		name := fmt.Sprintf("set-%d", i)
		mustPut(t, cli, netSet(name, "10.0.0.0/8"))
		want = append(want, "GlobalNetworkSet/"+name)
	}
	mustPut(t, cli, &model.GlobalNetworkPolicy{
		Metadata: model.ObjectMeta{Name: "allow-ssh"},
		Spec:     model.GlobalNetworkPolicySpec{Selector: "has(role)", DoNotTrack: true, ApplyOnForward: true},
	})
	mustPut(t, cli, &model.FelixConfiguration{Metadata: model.ObjectMeta{Name: "default"}})
	want = append(want, "GlobalNetworkPolicy/allow-ssh", "FelixConfiguration/default")
	// Another Calico kind, next to ours: never read.
	mustPutRaw(t, cli, model.KeyPrefix+"ippools/default-ipv4", `{"kind":"IPPool"}`)
	mustPutRaw(t, cli, model.KeyPrefix+"hostendpointsx/a", `{}`)

	opts := testOptions(zaptest.NewLogger(t))
	opts.PageSize = 2
	opts.MaxBatch = 5
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)

	initial := c.since(0)
	for i, b := range initial {
		if len(b.Updates) > opts.MaxBatch {
			t.Errorf("batch %d has %d updates, more than MaxBatch %d", i, len(b.Updates), opts.MaxBatch)
		}
		if (b.Status == InSync) != (i == len(initial)-1) {
			t.Errorf("batch %d of %d has status %s; only the last may be InSync", i, len(initial), b.Status)
		}
	}
	var got []string
	var listRev int64
	for _, u := range updates(initial) {
		if u.Value == nil {
			t.Errorf("first listing emitted an absent key %v", u.Key)
		}
		got = append(got, string(u.Key.Kind)+"/"+u.Key.Name)
		listRev = max(listRev, u.Revision)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("first listing emitted\n%v\nwant each key once:\n%v", got, want)
	}

	// Changes after the listing arrive, each with its revision.
	m := c.mark()
	rev1 := mustPut(t, cli, hep("hep-00", "eth1"))
	mustDelete(t, cli, hepKey("hep-01"))
	rev3 := mustPut(t, cli, hep("new", "eth2"))
	mustPutRaw(t, cli, model.KeyPrefix+"ippools/other", `{}`)
	c.waitFor(t, 5*time.Second, "watched changes", func() bool {
		return c.state[hepKey("new")] != nil && c.state[hepKey("hep-01")] == nil
	})
	later := updates(c.since(m))
	if got, want := updateKeys(later), []string{"hep-00", "hep-01=nil", "new"}; !slices.Equal(got, want) {
		t.Fatalf("watch emitted %v, want %v", got, want)
	}
	if later[0].Revision != rev1 || later[2].Revision != rev3 || later[1].Revision <= rev1 || later[1].Revision >= rev3 {
		t.Errorf("revisions %d %d %d, want %d, between, %d", later[0].Revision, later[1].Revision, later[2].Revision, rev1, rev3)
	}
	if h := later[0].Value.(*model.HostEndpoint); h.Spec.InterfaceName != "eth1" {
		t.Errorf("hep-00 interface = %q, want eth1", h.Spec.InterfaceName)
	}
	for _, b := range c.since(m) {
		if b.Status != InSync {
			t.Errorf("watch batch has status %s", b.Status)
		}
	}
}

// TestSyncerCoalesces checks that watch events arriving together (one
// transaction here) become one Batch, and that MaxBatch still bounds it.
func TestSyncerCoalesces(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	cli := newClient(t, e.Endpoints())
	opts := testOptions(zaptest.NewLogger(t))
	opts.MaxBatch = 4
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)

	m := c.mark()
	var ops []clientv3.Op
	for i := range 10 {
		r := hep(fmt.Sprintf("h%d", i), "eth0")
		data, err := model.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, clientv3.OpPut(hepKey(r.Metadata.Name).String(), string(data)))
	}
	txn(t, cli, ops...)
	c.waitFor(t, 5*time.Second, "10 endpoints", func() bool { return len(c.state) == 10 })
	bs := c.since(m)
	if len(bs) != 3 {
		t.Errorf("got %d batches for 10 events with MaxBatch 4, want 3", len(bs))
	}
	for _, b := range bs {
		if len(b.Updates) > 4 {
			t.Errorf("batch of %d updates, more than MaxBatch", len(b.Updates))
		}
	}
}

// TestSyncerIdleStaysInSync checks that an idle etcd is not mistaken for a
// dead one: the watch answers the syncer's progress requests.
func TestSyncerIdleStaysInSync(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	cli := newClient(t, e.Endpoints())
	mustPut(t, cli, hep("a", "eth0"))
	opts := testOptions(zaptest.NewLogger(t))
	opts.WatchCheckInterval = 100 * time.Millisecond
	opts.Metrics = NewMetrics(nil)
	c := runSyncer(t, NewSyncer(cli, opts))
	c.waitStatus(t, InSync)
	time.Sleep(time.Second) // ten check intervals without a write
	if n := c.mark(); n != 1 {
		t.Errorf("%d batches on an idle etcd, want only the first", n)
	}
	if got := metricValue(t, opts.Metrics.resyncs); got != 0 {
		t.Errorf("resyncs_total = %v on an idle etcd, want 0", got)
	}
}
