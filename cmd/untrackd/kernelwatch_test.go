package main

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane"
)

// scriptedCommits answers OthersCommitted from a queue (false when empty).
type scriptedCommits struct {
	mu      sync.Mutex
	answers []error // nil: true; errNone: false; other: that error
	calls   chan struct{}
}

var errNone = errors.New("none")

func (s *scriptedCommits) OthersCommitted(context.Context) (bool, error) {
	s.mu.Lock()
	defer func() { s.mu.Unlock(); s.calls <- struct{}{} }()
	if len(s.answers) == 0 {
		return false, nil
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	switch a {
	case nil:
		return true, nil
	case errNone:
		return false, nil
	}
	return false, a
}

// TestKernelWatchPacing drives kernelWatch tick by tick on a fake clock and
// checks when it asks for a read-back: at once for the first foreign
// commit, then no sooner than the gap, which doubles while read-backs find
// nothing and drops back when one repairs something; errors only log.
func TestKernelWatchPacing(t *testing.T) {
	changed := make(chan struct{}, 1)
	tick := make(chan time.Time)
	var clock time.Time
	w := newKernelWatch(nil, changed, zap.NewNop())
	w.tick, w.now, w.minGap, w.maxGap = tick, func() time.Time { return clock }, time.Second, 4*time.Second
	src := &scriptedCommits{calls: make(chan struct{})}
	w.writer = src
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	// step advances the clock by d, answers one poll with a, and reports
	// whether a read-back was asked for.
	step := func(d time.Duration, a error) bool {
		t.Helper()
		clock = clock.Add(d)
		src.mu.Lock()
		src.answers = append(src.answers, a)
		src.mu.Unlock()
		tick <- clock
		<-src.calls
		// run sends at once after the poll, or not at all.
		select {
		case <-changed:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	}
	sendVerdict := func(v verdict) {
		w.onApply(dataplane.ApplyResult{Resynced: true, Drift: v.drift, Duration: v.took})
		time.Sleep(5 * time.Millisecond)
	}
	clock = time.Unix(1000, 0)
	steps := []struct {
		name    string
		d       time.Duration
		answer  error
		verdict *verdict // sent after the step, if set
		want    bool
	}{
		{name: "quiet", d: time.Second, answer: errNone},
		{name: "first foreign commit: read back at once", d: time.Second, want: true, verdict: &verdict{took: time.Millisecond}},
		{name: "another, 1s later: gap is now 2s", d: time.Second},
		{name: "pending one goes out when the gap has passed", d: time.Second, answer: errNone, want: true, verdict: &verdict{took: time.Millisecond}},
		{name: "gap now 4s (max)", d: 2 * time.Second},
		{name: "still within 4s", d: time.Second, answer: errNone},
		{name: "4s passed", d: time.Second, answer: errNone, want: true, verdict: &verdict{drift: true, took: time.Millisecond}},
		{name: "a repair resets the gap to 1s", d: time.Second, want: true},
		{name: "poll error: logged, nothing asked", d: time.Second, answer: errors.New("EPERM")},
		{name: "quiet again", d: time.Second, answer: errNone},
		{name: "a foreign commit; the read-back is slow (700ms)", d: time.Second, want: true, verdict: &verdict{took: 700 * time.Millisecond}},
		{name: "gap now 10×700ms = 7s, above the max", d: 4 * time.Second},
		{name: "6s after", d: 2 * time.Second, answer: errNone},
		{name: "7s after", d: time.Second, answer: errNone, want: true, verdict: &verdict{drift: true, took: 700 * time.Millisecond}},
		{name: "a repair, but the gap stays at 7s", d: time.Second},
		{name: "7s after the repair's request", d: 6 * time.Second, answer: errNone, want: true},
	}
	for _, s := range steps {
		if got := step(s.d, s.answer); got != s.want {
			t.Fatalf("%s: read-back asked %v, want %v", s.name, got, s.want)
		}
		if s.verdict != nil {
			sendVerdict(*s.verdict)
		}
	}
}
