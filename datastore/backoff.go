package datastore

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff yields exponentially growing delays between lo and hi, with
// jitter: each delay is drawn uniformly from [d/2, d] where d doubles per
// attempt, so retries from many nodes spread out and never form a hot loop.
type backoff struct {
	lo, hi time.Duration
	next   time.Duration
}

func newBackoff(lo, hi time.Duration) *backoff {
	return &backoff{lo: lo, hi: hi, next: lo}
}

// delay returns the next delay and doubles the one after, up to hi.
func (b *backoff) delay() time.Duration {
	d := b.next
	b.next = min(2*b.next, b.hi)
	half := d / 2
	return half + rand.N(d-half+1)
}

// reset starts again from lo.
func (b *backoff) reset() { b.next = b.lo }

// sleep waits for d or until ctx is done, and returns ctx.Err() in the latter
// case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
