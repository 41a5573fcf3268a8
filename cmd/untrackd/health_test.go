package main

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/datastore"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

var okStatus = &dataplane.Status{Endpoints: []dataplane.EndpointStatus{{Name: "h1", Interface: "eth0",
	Untracked: dataplane.PolicyLists{Ingress: []string{"memcached-server"}, Egress: []string{"memcached-server"}}}}, Chains: 5, Rules: 9}

// TestReadiness walks the readiness state machine: not ready until the
// datastore has been in sync and an apply has succeeded; then not ready
// whenever the datastore is out of sync or the latest apply failed.
func TestReadiness(t *testing.T) {
	clk := newFakeClock()
	m := newMonitor(clk.Now, time.Minute)
	steps := []struct {
		do   func()
		want string // "" = ready, else a substring of the reasons
	}{
		{func() {}, "datastore not yet in sync (WaitingForDatastore"},
		{func() { m.datastoreStatus(datastore.ResyncInProgress) }, "datastore not yet in sync (ResyncInProgress"},
		{func() { m.datastoreStatus(datastore.InSync) }, "dataplane not yet programmed"},
		{func() { m.applied(dataplane.ApplyResult{Err: errors.New("EPERM")}) }, "dataplane apply failing for 1s (1 attempts): EPERM"},
		{func() { m.applied(dataplane.ApplyResult{Ops: 10, Status: okStatus}) }, ""},
		{func() { m.datastoreStatus(datastore.WaitingForDatastore) }, "datastore lost sync: WaitingForDatastore"},
		{func() { m.datastoreStatus(datastore.ResyncInProgress) }, "datastore lost sync: ResyncInProgress"},
		{func() { m.datastoreStatus(datastore.InSync) }, ""},
		{func() { m.applied(dataplane.ApplyResult{Err: errors.New("EBUSY")}) }, "EBUSY"},
		{func() { m.applied(dataplane.ApplyResult{Status: okStatus}) }, ""},
	}
	for i, s := range steps {
		s.do()
		clk.Advance(time.Second)
		ok, why := m.ready()
		if got := strings.Join(why, "; "); ok != (s.want == "") || !strings.Contains(got, s.want) {
			t.Errorf("step %d: ready %v (%s), want %q", i, ok, got, s.want)
		}
	}
	select {
	case <-m.FirstReady():
	default:
		t.Error("FirstReady not closed")
	}
}

// TestFirstReadyWaitsForSync checks that an apply that succeeds while the
// datastore is out of sync does not make the daemon ready, and that it
// becomes ready when the datastore is back in sync.
func TestFirstReadyWaitsForSync(t *testing.T) {
	clk := newFakeClock()
	m := newMonitor(clk.Now, time.Minute)
	m.datastoreStatus(datastore.InSync)
	m.datastoreStatus(datastore.WaitingForDatastore)
	if first := m.applied(dataplane.ApplyResult{Status: okStatus}); !first {
		t.Error("first success not reported")
	}
	select {
	case <-m.FirstReady():
		t.Fatal("ready while the datastore is out of sync")
	default:
	}
	m.datastoreStatus(datastore.InSync)
	select {
	case <-m.FirstReady():
	default:
		t.Fatal("not ready once back in sync")
	}
	if first := m.applied(dataplane.ApplyResult{Status: okStatus}); first {
		t.Error("second success reported as first")
	}
}

// TestLiveness checks each way the loops can fall behind, against the
// limit, with the injected clock.
func TestLiveness(t *testing.T) {
	const limit = 90 * time.Second
	cases := []struct {
		name string
		run  func(m *monitor, clk *fakeClock)
		want string // "" = live
	}{
		{"idle", func(m *monitor, clk *fakeClock) { clk.Advance(time.Hour) }, ""},
		{"calc keeps up", func(m *monitor, clk *fakeClock) {
			for range 100 {
				m.calcHandover()
				clk.Advance(time.Second)
				m.calcDone()
			}
		}, ""},
		{"calc stuck on a batch", func(m *monitor, clk *fakeClock) {
			m.calcHandover()
			clk.Advance(30 * time.Second)
			m.calcHandover() // the next batch waits
			clk.Advance(61 * time.Second)
		}, "the calculation graph has not finished a datastore batch handed to it 1m31s ago"},
		{"calc slow but within the limit", func(m *monitor, clk *fakeClock) {
			m.calcHandover()
			clk.Advance(80 * time.Second)
			m.calcHandover()
			m.calcDone()
			clk.Advance(80 * time.Second) // the second batch is 80s old
		}, ""},
		{"driver stuck", func(m *monitor, clk *fakeClock) {
			m.handoverStarted()
			clk.Advance(limit + time.Second)
		}, "the dataplane goroutine has not taken a batch for 1m31s"},
		{"driver took it", func(m *monitor, clk *fakeClock) {
			m.handoverStarted()
			clk.Advance(limit - time.Second)
			m.handoverDone()
			clk.Advance(time.Hour)
		}, ""},
		{"applies failing", func(m *monitor, clk *fakeClock) {
			for range 10 {
				m.applied(dataplane.ApplyResult{Err: errors.New("ENOBUFS")})
				clk.Advance(10 * time.Second)
			}
		}, "dataplane applies have failed for 1m40s (limit 1m30s): ENOBUFS"},
		{"applies recovered", func(m *monitor, clk *fakeClock) {
			for range 10 {
				m.applied(dataplane.ApplyResult{Err: errors.New("ENOBUFS")})
				clk.Advance(10 * time.Second)
			}
			m.applied(dataplane.ApplyResult{Status: okStatus})
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newFakeClock()
			m := newMonitor(clk.Now, limit)
			c.run(m, clk)
			ok, why := m.live()
			if got := strings.Join(why, "; "); ok != (c.want == "") || !strings.Contains(got, c.want) {
				t.Errorf("live %v (%s), want %q", ok, got, c.want)
			}
		})
	}
}

// TestStatusDocument checks the per-endpoint times and errors in /status.
func TestStatusDocument(t *testing.T) {
	clk := newFakeClock()
	m := newMonitor(clk.Now, time.Minute)
	m.datastoreStatus(datastore.InSync)
	t0 := clk.Now()
	m.applied(dataplane.ApplyResult{Ops: 3, Status: okStatus})
	clk.Advance(time.Minute)
	// h1 unchanged, h2 new.
	two := *okStatus
	two.Endpoints = append([]dataplane.EndpointStatus{}, okStatus.Endpoints...)
	two.Endpoints = append(two.Endpoints, dataplane.EndpointStatus{Name: "h2", Interface: "*"})
	m.applied(dataplane.ApplyResult{Ops: 3, Status: &two})
	clk.Advance(time.Minute)
	m.applied(dataplane.ApplyResult{Err: errors.New("EBUSY")})

	d := m.status()
	if d.Ready || !d.Live || d.Dataplane.LastError != "EBUSY" || d.Dataplane.ConsecutiveFailures != 1 || d.Dataplane.Rules != 9 {
		t.Errorf("document %+v", d)
	}
	if len(d.Endpoints) != 2 {
		t.Fatalf("endpoints %+v", d.Endpoints)
	}
	h1, h2 := d.Endpoints[0], d.Endpoints[1]
	if !h1.AppliedAt.Equal(t0) || !h2.AppliedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("applied at: h1 %v (want %v), h2 %v", h1.AppliedAt, t0, h2.AppliedAt)
	}
	if h1.Error != "EBUSY" || h1.Untracked.Ingress[0] != "memcached-server" || h2.Normal.Ingress == nil || h2.Profiles == nil {
		t.Errorf("endpoints %+v", d.Endpoints)
	}
}
