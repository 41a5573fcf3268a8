package calc

// Observer watches the graph work through its input, for the caller's
// metrics and health checks: Apply calls ApplyStarted before the first update
// of an Input and ApplyDone after the last. Both run on the graph's goroutine
// and must return quickly; they must not call back into the graph. The graph
// itself keeps no clock: an Observer that wants durations measures them.
type Observer interface {
	ApplyStarted(in Input)
	ApplyDone(in Input)
}

// observe tells b's Observer, if any, that Apply is starting on b, and
// returns the function that tells it Apply is done.
func (b Input) observe() (done func()) {
	if b.Observer == nil {
		return func() {}
	}
	b.Observer.ApplyStarted(b)
	return func() { b.Observer.ApplyDone(b) }
}
