package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane"
)

// Defaults of kernelWatch.
const (
	kernelPoll   = time.Second      // how often the generation ID is read
	kernelMinGap = time.Second      // least time between two read-backs it asks for
	kernelMaxGap = 16 * time.Second // the most that gap grows to while read-backs find nothing
	// kernelCPUShare bounds the time spent in read-backs it asks for: the
	// gap is at least the last read-back's duration divided by it.
	kernelCPUShare = 10
)

// othersCommitted is what kernelWatch needs of the writer (nft.Netlink).
type othersCommitted interface {
	OthersCommitted(ctx context.Context) (bool, error)
}

// kernelWatch finds changes that other processes make to untrackd's table
// sooner than the periodic refresh. Every poll it asks the writer whether
// anyone else has committed an nftables transaction (to any table: the
// kernel's generation counter does not say which; see
// dataplane/nft/netlink_generation.go) and, if so, asks the driver through
// changed (buffered; a notice already waiting covers a new one) to read its
// table back and repair any difference.
//
// It paces those read-backs: at least gap apart, where gap starts at
// minGap and doubles, up to maxGap, each time a read-back finds nothing to
// repair (another program busy with its own tables), and drops back to
// minGap when one does. So an operator's "nft delete rule" in our table is
// repaired within about a second, and a program that commits to its own
// table many times a second costs at most one read-back per maxGap. A
// large table takes long to read (about 2 s for 300,000 set elements: the
// kernel walks a set from its start for every dump message), so the gap is
// also at least ten times the last read-back's duration: read-backs on
// behalf of others take at most a tenth of the time.
type kernelWatch struct {
	writer  othersCommitted
	changed chan<- struct{}
	// verdicts carries read-backs' outcomes from onApply.
	verdicts chan verdict
	tick     <-chan time.Time
	now      func() time.Time
	minGap   time.Duration
	maxGap   time.Duration
	log      *zap.Logger
}

func newKernelWatch(writer othersCommitted, changed chan<- struct{}, log *zap.Logger) *kernelWatch {
	return &kernelWatch{writer: writer, changed: changed, verdicts: make(chan verdict, 1), now: time.Now,
		minGap: kernelMinGap, maxGap: kernelMaxGap, log: log}
}

// verdict is what one read-back found, and how long it took.
type verdict struct {
	drift bool
	took  time.Duration
}

// onApply feeds the driver's results back (see dataplane.Options.OnApply):
// whether each read-back found the table changed. It never blocks.
func (w *kernelWatch) onApply(r dataplane.ApplyResult) {
	if !r.Resynced {
		return
	}
	select {
	case w.verdicts <- verdict{drift: r.Drift, took: r.Duration}:
	default:
	}
}

// run polls until ctx is done. Errors reading the generation are logged
// (once until it works again) and leave repairs to the periodic refresh.
func (w *kernelWatch) run(ctx context.Context) error {
	if w.tick == nil {
		t := time.NewTicker(kernelPoll)
		defer t.Stop()
		w.tick = t.C
	}
	gap := w.minGap
	var last time.Time // of the last notice sent
	pending, awaiting, failing := false, false, false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v := <-w.verdicts:
			floor := max(w.minGap, kernelCPUShare*v.took)
			switch {
			case v.drift:
				gap = floor
			case awaiting:
				gap = min(2*gap, max(w.maxGap, floor))
			}
			gap = max(gap, floor)
			awaiting = false
		case <-w.tick:
			others, err := w.writer.OthersCommitted(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !failing {
					w.log.Warn("cannot tell whether other processes changed nftables; only the periodic refresh will repair changes to untrackd's table", zap.Error(err))
				}
				failing = true
				continue
			}
			if failing {
				w.log.Info("watching nftables for other processes' changes again")
				failing = false
			}
			pending = pending || others
			if now := w.now(); pending && now.Sub(last) >= gap {
				pending, awaiting, last = false, true, now
				w.log.Debug("another process committed nftables changes; re-reading untrackd's table", zap.Duration("gap", gap))
				select {
				case w.changed <- struct{}{}:
				default:
				}
			}
		}
	}
}
