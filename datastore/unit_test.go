package datastore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap/zapcore"

	"github.com/untrackd/untrackd/model"
)

func encode(t *testing.T, r model.Resource) []byte {
	t.Helper()
	b, err := model.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTrackerDiff drives the tracker through listings and watch events and
// checks what it says to emit.
func TestTrackerDiff(t *testing.T) {
	log, logs := observedLogger(t, zapcore.WarnLevel)
	m := NewMetrics(nil)
	tr := newTracker(log, m)
	key := func(name string) string { return hepKey(name).String() }
	a1, a2 := encode(t, hep("a", "eth0")), encode(t, hep("a", "eth1"))
	b1 := encode(t, hep("b", "eth0"))
	bad := []byte(`{"kind":`)
	hk := model.KindHostEndpoint

	var got []string
	emit := func(u Update, ok bool) {
		if ok {
			s := fmt.Sprintf("%s@%d", u.Key.Name, u.Revision)
			if u.Value == nil {
				s += "=nil"
			}
			got = append(got, s)
		}
	}
	check := func(step string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: emitted %v, want %v", step, got, want)
		}
		got = nil
	}
	list := func(rev int64, kvs ...any) {
		tr.beginList()
		for i := 0; i < len(kvs); i += 3 {
			emit(tr.put(hk, key(kvs[i].(string)), kvs[i+1].([]byte), int64(kvs[i+2].(int))))
		}
		for _, u := range tr.sweep(rev) {
			emit(u, true)
		}
	}

	list(5, "a", a1, 2, "b", b1, 3, "c", bad, 4)
	check("first listing", "a@2", "b@3")
	list(6, "a", a1, 2, "b", b1, 3, "c", bad, 4)
	check("same listing again")
	list(9, "a", a2, 7, "c", bad, 4, "d", bad, 8)
	check("a changed, b gone, d added invalid", "a@7", "b@9=nil")
	emit(tr.put(hk, key("a"), bad, 10))
	check("valid → invalid", "a@10=nil")
	emit(tr.del(key("a"), 11))
	emit(tr.del(key("c"), 12))
	emit(tr.del(key("zzz"), 13))
	check("deletes of invalid or unknown keys")
	emit(tr.put(hk, key("d"), b1, 14)) // names b: does not belong under d
	emit(tr.put(hk, key("d"), encode(t, hep("d", "eth0")), 15))
	check("invalid → valid", "d@15")
	// A restore from backup can reuse a revision with other content.
	emit(tr.put(hk, key("d"), encode(t, hep("d", "eth9")), 15))
	check("same revision, new content", "d@15")

	if n := logs.FilterMessage(msgInvalid).Len(); n != 4 {
		t.Errorf("%d warnings, want 4 (c@4, d@8, a@10, d@14)", n)
	}
	if got := metricValue(t, m.resources.WithLabelValues(string(hk))); got != 1 {
		t.Errorf("resources = %v, want 1", got)
	}
}

func TestDecodeReasons(t *testing.T) {
	valid := `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"a"},"spec":{"node":"n","interfaceName":"eth0"}}`
	tests := []struct {
		name, key, value, reason string
	}{
		{"valid", "a", valid, ""},
		{"namespaced key", "ns/a", valid, reasonKey},
		{"bad key name", "A", valid, reasonKey},
		{"other name", "b", valid, reasonKey},
		{"other kind", "a", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"a"},"spec":{}}`, reasonKey},
		{"bad JSON", "a", valid[:20], reasonDecode},
		{"unknown field", "a", strings.Replace(valid, `"node"`, `"nod"`, 1), reasonDecode},
		{"invalid", "a", strings.Replace(valid, `"eth0"`, `"a/b"`, 1), reasonValidate},
		{"too large", "a", valid + strings.Repeat(" ", model.MaxValueBytes), reasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, r, reason, err := decode(model.KindPrefix(model.KindHostEndpoint)+tc.key, []byte(tc.value))
			if reason != tc.reason || (err == nil) != (tc.reason == "") || (r == nil) == (tc.reason == "") {
				t.Errorf("decode = %v, %q, %v; want reason %q", r, reason, err, tc.reason)
			}
		})
	}
}

func TestStatusAfter(t *testing.T) {
	tests := []struct {
		err  error
		want Status
	}{
		{fmt.Errorf("watch: %w", rpctypes.ErrCompacted), ResyncInProgress},
		{fmt.Errorf("list: %w", rpctypes.ErrCompacted), ResyncInProgress},
		{errWatchSilent, WaitingForDatastore},
		{context.DeadlineExceeded, WaitingForDatastore},
		{errors.New("watch closed"), WaitingForDatastore},
	}
	for _, tc := range tests {
		if got := statusAfter(tc.err); got != tc.want {
			t.Errorf("statusAfter(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestStatusString(t *testing.T) {
	for st, want := range map[Status]string{
		WaitingForDatastore: "WaitingForDatastore",
		ResyncInProgress:    "ResyncInProgress",
		InSync:              "InSync",
		Status(7):           "Status(7)",
	} {
		if got := st.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(st), got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(100*time.Millisecond, time.Second)
	for i, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		ceiling *= time.Millisecond
		d := b.delay()
		if d < ceiling/2 || d > ceiling {
			t.Errorf("attempt %d: delay %s outside [%s, %s]", i, d, ceiling/2, ceiling)
		}
	}
	b.reset()
	if d := b.delay(); d > 100*time.Millisecond {
		t.Errorf("after reset: delay %s, want at most 100ms", d)
	}
}

func TestMetricsNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.setInSync(true)
	m.resync()
	m.watchEvent(2)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	want := []string{
		"untrackd_datastore_in_sync",
		"untrackd_datastore_rejected_resources_total",
		"untrackd_datastore_resources",
		"untrackd_datastore_resyncs_total",
		"untrackd_datastore_watch_events_total",
	}
	if !slices.Equal(names, want) {
		t.Errorf("metrics %v, want %v", names, want)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	var nilMetrics *Metrics
	nilMetrics.resync() // a nil *Metrics records nothing
}

func TestRunTwice(t *testing.T) {
	s := NewSyncer(nil, SyncerOptions{})
	s.started.Store(true)
	if err := s.Run(context.Background(), make(chan Batch)); err == nil {
		t.Error("second Run succeeded")
	}
}
