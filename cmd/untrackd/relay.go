package main

import (
	"context"
	"time"

	"github.com/untrackd/untrackd/proto"
)

// relay forwards the graph's output to the dataplane goroutine, recording
// each hand-over in m. Once the first batch has gone through, it also sends
// an empty batch whenever nothing else was sent for one beat: the driver
// then applies (writing nothing when nothing changed) and reports through
// OnApply. A driver stuck in the kernel therefore shows up as a hand-over
// that does not complete, which m reports as not live. While the driver is
// busy, the graph keeps coalescing changes; the relay holds at most one
// batch. It returns ctx.Err() when ctx is done.
func relay(ctx context.Context, in <-chan []*proto.ToDataplane, out chan<- []*proto.ToDataplane, m *monitor, beat time.Duration) error {
	var heartbeat <-chan time.Time
	t := time.NewTicker(beat)
	defer t.Stop()
	for {
		var batch []*proto.ToDataplane
		select {
		case <-ctx.Done():
			return ctx.Err()
		case batch = <-in:
			heartbeat = t.C
		case <-heartbeat:
			batch = []*proto.ToDataplane{}
		}
		m.handoverStarted()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case out <- batch:
		}
		m.handoverDone()
		t.Reset(beat)
	}
}
