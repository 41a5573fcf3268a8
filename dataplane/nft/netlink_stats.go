package nft

import (
	"context"
	"sync"
)

// RunStats describes the batch one Run sent to the kernel: instrumentation
// for benchmarks (cmd/bench-scale), which check that an incremental change
// sends bytes in proportion to the change, not to the ruleset.
type RunStats struct {
	Ops      int   // operations in the transaction
	Messages int   // netlink messages in the batch, batch begin and end included
	Bytes    int   // the batch's size as sent: headers, payloads and padding
	Err      error // what Run returned
}

// BatchSize returns the number of messages and bytes of the batch Run
// sends for tx: the same encoding, framed as sendBatch frames it. It does
// not touch the kernel.
func (n *Netlink) BatchSize(tx *Transaction) (msgs, bytes int, err error) {
	if tx == nil || tx.Len() == 0 {
		return 0, 0, nil
	}
	n.mu.Lock()
	enc, err := n.encode(tx)
	n.mu.Unlock()
	if err != nil || len(enc) == 0 {
		return 0, 0, err
	}
	bytes = 2 * nlmsgAlign(nlmsgHdrLen+genmsgLen) // batch begin and end
	for _, m := range enc {
		bytes += nlmsgAlign(nlmsgHdrLen + len(m.msg.Data))
	}
	return len(enc) + 2, bytes, nil
}

// StatsWriter is a Netlink that reports what each Run sent. It encodes
// every transaction a second time to measure it, so it belongs in
// benchmarks, not in the daemon.
type StatsWriter struct {
	*Netlink
	onRun func(RunStats)

	mu    sync.Mutex
	total RunStats
	runs  int
}

var (
	_ Writer        = (*StatsWriter)(nil)
	_ HookInspector = (*StatsWriter)(nil)
)

// NewStatsWriter wraps n; onRun, if not nil, is called after every Run
// with a non-empty transaction, on the caller's goroutine.
func NewStatsWriter(n *Netlink, onRun func(RunStats)) *StatsWriter {
	return &StatsWriter{Netlink: n, onRun: onRun}
}

// Run implements Writer: it measures tx, then runs it on the Netlink.
func (s *StatsWriter) Run(ctx context.Context, tx *Transaction) error {
	if tx == nil || tx.Len() == 0 {
		return s.Netlink.Run(ctx, tx)
	}
	msgs, bytes, err := s.BatchSize(tx)
	if err == nil {
		err = s.Netlink.Run(ctx, tx)
	}
	st := RunStats{Ops: tx.Len(), Messages: msgs, Bytes: bytes, Err: err}
	s.mu.Lock()
	s.runs++
	s.total.Ops += st.Ops
	s.total.Messages += st.Messages
	s.total.Bytes += st.Bytes
	s.mu.Unlock()
	if s.onRun != nil {
		s.onRun(st)
	}
	return err
}

// Totals returns the number of non-empty Runs so far and their summed
// operations, messages and bytes.
func (s *StatsWriter) Totals() (runs int, total RunStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runs, s.total
}
