package datastore

import "context"

// emitter groups updates into Batches of at most max updates and sends them,
// with the Syncer's status, on out. It sends a Batch when it has updates to
// hand over or when the status changes, never an empty Batch with an
// unchanged status. Sends block until the consumer receives or ctx is done.
//
// Not safe for concurrent use; the Syncer's Run goroutine owns it.
type emitter struct {
	out     chan<- Batch
	max     int
	metrics *Metrics

	pending []Update
	status  Status // status of the last Batch sent
}

func newEmitter(out chan<- Batch, maxUpdates int, m *Metrics) *emitter {
	return &emitter{out: out, max: maxUpdates, metrics: m, status: WaitingForDatastore}
}

// add queues u and sends a Batch with status st once max updates are queued.
func (e *emitter) add(ctx context.Context, u Update, st Status) error {
	e.pending = append(e.pending, u)
	if len(e.pending) >= e.max {
		return e.flush(ctx, st)
	}
	return nil
}

// flush sends the queued updates with status st, if there are any or st
// differs from the last status sent.
func (e *emitter) flush(ctx context.Context, st Status) error {
	if len(e.pending) == 0 && st == e.status {
		return nil
	}
	b := Batch{Updates: e.pending, Status: st}
	select {
	case e.out <- b:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.pending = nil
	e.status = st
	e.metrics.setInSync(st == InSync)
	return nil
}
