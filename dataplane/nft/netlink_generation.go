package nft

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Other processes' commits.
//
// The kernel counts nftables commits in each network namespace: the
// ruleset generation ID, which every successful transaction, by anyone,
// advances by one (GETGEN reads it; one small request). The writer reads it
// before and after each of its own transactions and at each List, so a
// step it did not take is another process's commit. OthersCommitted
// reports those; the daemon polls it and re-reads its table when it is
// true (see cmd/untrackd/kernelwatch.go).
//
// Why not nftables notifications ("nft monitor")? While any socket on the
// host listens to them, the kernel builds a notification for every object
// of every transaction, in every namespace: a 300,000-element start-up
// commit took 14 s instead of 2.5 s. A daemon must not impose that on
// itself and on every other nftables user on the host. The price of
// polling: a commit to any table counts (the daemon cannot tell from the
// counter that its own table was touched, so it checks by reading it back),
// and who made the change is not known.

// observe records that the ruleset is at generation g after own commits of
// the writer since the previous observation (0, or 1 after a successful
// transaction): any other step is someone else's. The caller holds n.mu.
func (n *Netlink) observe(g uint32, own uint32) {
	if n.genKnown && g != n.gen+own {
		n.others = true
	}
	n.gen, n.genKnown = g, true
}

// forgetGeneration is for a transaction whose outcome is unknown (a socket
// error): the next observation cannot tell whose the step was.
func (n *Netlink) forgetGeneration() { n.genKnown = false }

// OthersCommitted reports whether another process has committed an
// nftables transaction in the writer's namespace, to any table, since the
// writer last read the table with List, or since the previous call. It
// never reports the writer's own transactions. The first call after
// NewNetlink, before any Run or List, reports false.
func (n *Netlink) OthersCommitted(ctx context.Context) (bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false, errClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if err := n.sock.SetDeadline(n.deadline(ctx)); err != nil {
		return false, fmt.Errorf("nft: %w", err)
	}
	defer n.sock.SetDeadline(time.Time{})
	g, err := n.generation()
	if err != nil {
		return false, fmt.Errorf("nft: reading the ruleset generation: %w", err)
	}
	n.observe(g, 0)
	others := n.others
	n.others = false
	return others, nil
}

// listAttempts bounds how often List reads the table again because another
// process committed while it was reading.
const listAttempts = 5

// errTableChanging is returned by List when every attempt overlapped a
// commit.
var errTableChanging = errors.New("the ruleset kept changing while it was read")

// listSnapshot reads the table between two reads of the generation ID and
// reads it again if they differ: a dump that spans several messages is not
// a snapshot, and one that overlapped another process's commit can mix two
// states. The caller holds n.mu.
func (n *Netlink) listSnapshot() (*TableState, error) {
	for attempt := 0; attempt < listAttempts; attempt++ {
		g0, err := n.generation()
		if err != nil {
			return nil, fmt.Errorf("reading the ruleset generation: %w", err)
		}
		st, err := n.list()
		if err != nil {
			return nil, err
		}
		g1, err := n.generation()
		if err != nil {
			return nil, fmt.Errorf("reading the ruleset generation: %w", err)
		}
		if g0 == g1 {
			// The read-back covers every commit up to g1: nothing is left
			// to report.
			n.gen, n.genKnown, n.others = g1, true, false
			return st, nil
		}
	}
	return nil, fmt.Errorf("%w (%d attempts)", errTableChanging, listAttempts)
}
