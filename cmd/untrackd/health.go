package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/datastore"
)

// monitor follows the daemon's progress through its pipeline and answers
// the health checks, /status and systemd from it. The goroutines of the
// pipeline report to it; it is safe for concurrent use and never blocks
// them for long. Time comes from the injected clock.
//
// Ready: the datastore has been in sync and a dataplane apply has succeeded
// since; and now the datastore's status is InSync and the latest apply
// attempt succeeded.
//
// Live: none of the daemon's loops has had work waiting for longer than
// the liveness limit: no datastore batch has waited for or been inside the
// calculation graph that long, no hand-over to the dataplane goroutine has
// been blocked that long (a heartbeat keeps one coming), and applies have
// not been failing without a success for that long.
type monitor struct {
	now   func() time.Time
	limit time.Duration

	mu         sync.Mutex
	ds         datastore.Status
	dsSince    time.Time
	everInSync bool
	calcQueue  []time.Time // hand-over times of batches the graph has not finished, oldest first
	handoff    time.Time   // since when the relay has been handing a batch to the driver; zero: not
	dp         dataplaneProgress
	firstReady chan struct{} // closed when first ready
	readyOnce  sync.Once
}

// dataplaneProgress is what the monitor knows of the applies.
type dataplaneProgress struct {
	firstSuccess, lastAttempt, lastSuccess time.Time
	lastErr                                error
	failingSince                           time.Time // first failure since the last success; zero: not failing
	failures                               int       // consecutive
	status                                 *dataplane.Status
	endpoints                              map[string]endpointSeen
}

// endpointSeen is when an endpoint's current state was first applied.
type endpointSeen struct {
	sig   string
	since time.Time
}

func newMonitor(now func() time.Time, livenessLimit time.Duration) *monitor {
	return &monitor{now: now, limit: livenessLimit, dsSince: now(), firstReady: make(chan struct{})}
}

// FirstReady is closed when the daemon is ready for the first time.
func (m *monitor) FirstReady() <-chan struct{} { return m.firstReady }

// datastoreStatus records the datastore's status after a batch.
func (m *monitor) datastoreStatus(s datastore.Status) {
	m.mu.Lock()
	now := m.now()
	if s != m.ds {
		m.ds, m.dsSince = s, now
	}
	if s == datastore.InSync {
		m.everInSync = true
	}
	ready := m.readyLocked(now) == nil
	m.mu.Unlock()
	if ready {
		m.readyOnce.Do(func() { close(m.firstReady) })
	}
}

// calcHandover records that a batch is about to be handed to the graph; the
// graph's calc.Observer (calcDone) records that it finished it.
func (m *monitor) calcHandover() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calcQueue = append(m.calcQueue, m.now())
}

func (m *monitor) calcDone() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.calcQueue) > 0 {
		m.calcQueue = m.calcQueue[1:]
	}
}

// handoverStarted and handoverDone bracket the relay's sending of a batch
// to the dataplane goroutine.
func (m *monitor) handoverStarted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handoff = m.now()
}

func (m *monitor) handoverDone() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.handoff = time.Time{}
}

// applied records an apply attempt (dataplane.Options.OnApply) and reports
// whether it was the first successful one.
func (m *monitor) applied(r dataplane.ApplyResult) (first bool) {
	now := m.now()
	m.mu.Lock()
	p := &m.dp
	p.lastAttempt = now
	if r.Err != nil {
		p.lastErr = r.Err
		if p.failures == 0 {
			p.failingSince = now
		}
		p.failures++
		m.mu.Unlock()
		return false
	}
	p.lastErr, p.failures, p.failingSince, p.lastSuccess = nil, 0, time.Time{}, now
	if p.firstSuccess.IsZero() {
		p.firstSuccess, first = now, true
	}
	if r.Status != nil {
		p.status = r.Status
		seen := make(map[string]endpointSeen, len(r.Status.Endpoints))
		for _, e := range r.Status.Endpoints {
			sig := fmt.Sprintf("%+v", e)
			if old, ok := p.endpoints[e.Name]; ok && old.sig == sig {
				seen[e.Name] = old
			} else {
				seen[e.Name] = endpointSeen{sig: sig, since: now}
			}
		}
		p.endpoints = seen
	}
	ready := m.readyLocked(now) == nil
	m.mu.Unlock()
	if ready {
		m.readyOnce.Do(func() { close(m.firstReady) })
	}
	return first
}

// ready reports readiness and, when not ready, why.
func (m *monitor) ready() (bool, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.readyLocked(m.now())
	return r == nil, r
}

func (m *monitor) readyLocked(now time.Time) []string {
	var why []string
	switch {
	case !m.everInSync:
		why = append(why, fmt.Sprintf("datastore not yet in sync (%s for %s)", m.ds, age(now, m.dsSince)))
	case m.ds != datastore.InSync:
		why = append(why, fmt.Sprintf("datastore lost sync: %s for %s", m.ds, age(now, m.dsSince)))
	}
	switch p := m.dp; {
	case p.firstSuccess.IsZero() && p.lastErr == nil:
		why = append(why, "dataplane not yet programmed")
	case p.lastErr != nil:
		why = append(why, fmt.Sprintf("dataplane apply failing for %s (%d attempts): %v", age(now, p.failingSince), p.failures, p.lastErr))
	}
	return why
}

// live reports liveness and, when not live, why.
func (m *monitor) live() (bool, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	var why []string
	if len(m.calcQueue) > 0 && now.Sub(m.calcQueue[0]) > m.limit {
		why = append(why, fmt.Sprintf("the calculation graph has not finished a datastore batch handed to it %s ago (limit %s)", age(now, m.calcQueue[0]), m.limit))
	}
	if !m.handoff.IsZero() && now.Sub(m.handoff) > m.limit {
		why = append(why, fmt.Sprintf("the dataplane goroutine has not taken a batch for %s (limit %s)", age(now, m.handoff), m.limit))
	}
	if f := m.dp.failingSince; !f.IsZero() && now.Sub(f) > m.limit {
		why = append(why, fmt.Sprintf("dataplane applies have failed for %s (limit %s): %v", age(now, f), m.limit, m.dp.lastErr))
	}
	return len(why) == 0, why
}

func age(now, since time.Time) time.Duration {
	return now.Sub(since).Round(time.Millisecond)
}

// calcObserver is the calc.Observer of the daemon's graph: it times each
// batch and tells the monitor when the graph has finished one.
type calcObserver struct {
	m       *monitor
	metrics *daemonMetrics
	start   time.Time // only touched on the graph's goroutine
}

var _ calc.Observer = (*calcObserver)(nil)

// ApplyStarted implements calc.Observer.
func (o *calcObserver) ApplyStarted(calc.Input) { o.start = o.m.now() }

// ApplyDone implements calc.Observer.
func (o *calcObserver) ApplyDone(in calc.Input) {
	o.metrics.observeCalc(len(in.Updates), o.m.now().Sub(o.start))
	o.m.calcDone()
}
