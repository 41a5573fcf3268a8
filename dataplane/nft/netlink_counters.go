package nft

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// RuleCounter is the counter of one rule of untrackd's table, with what
// identifies the rule: its chain, handle and stored comment, and its verdict.
type RuleCounter struct {
	Chain   string
	Handle  uint64
	Comment string // as stored: "ut:<hash> <comment>"
	// Verdict is the rule's verdict; nil when it has none (the rule only
	// logs or marks, and evaluation continues).
	Verdict *Verdict
	// Log reports whether the rule logs the packet.
	Log            bool
	Packets, Bytes uint64
}

// CounterReader reads the counters of the rules in untrackd's table.
type CounterReader interface {
	// RuleCounters returns every rule that has a counter, in chain order;
	// nil (and no error) when the table does not exist.
	RuleCounters(ctx context.Context) ([]RuleCounter, error)
}

var _ CounterReader = (*Netlink)(nil)

// RuleCounters implements CounterReader with one netlink dump of the chains
// and one dump of each chain's rules. The values are the kernel's at the
// moment each chain was dumped: a rule rewritten since starts again from 0.
// It only reads, so it may run on its own Netlink while another applies.
func (n *Netlink) RuleCounters(ctx context.Context) ([]RuleCounter, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.sock.SetDeadline(n.deadline(ctx)); err != nil {
		return nil, err
	}
	defer n.sock.SetDeadline(time.Time{})
	if err := n.prepare(); err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	out, err := n.ruleCounters()
	if err != nil {
		return nil, fmt.Errorf("nft: reading rule counters of table inet %s: %w", TableName, err)
	}
	return out, nil
}

func (n *Netlink) ruleCounters() ([]RuleCounter, error) {
	if _, err := n.conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, err
	}
	chains, err := n.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("chains: %w", err)
	}
	var out []RuleCounter
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != TableName {
			continue
		}
		rules, err := n.conn.GetRules(n.table, c)
		if err != nil {
			if errors.Is(err, unix.ENOENT) { // the chain went away since the listing
				continue
			}
			return nil, fmt.Errorf("rules of chain %s: %w", c.Name, err)
		}
		for _, r := range rules {
			if rc, ok := ruleCounter(c.Name, r); ok {
				out = append(out, rc)
			}
		}
	}
	return out, nil
}

// ruleCounter extracts the counter of a rule as the library decoded it;
// false if the rule has no counter.
func ruleCounter(chain string, r *nftables.Rule) (RuleCounter, bool) {
	rc := RuleCounter{Chain: chain, Handle: r.Handle, Comment: ruleComment(r.UserData)}
	counted := false
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case *expr.Counter:
			rc.Packets, rc.Bytes, counted = e.Packets, e.Bytes, true
		case *expr.Log:
			rc.Log = true
		case *expr.Verdict:
			rc.Verdict = verdictOf(e)
		}
	}
	return rc, counted
}

// verdictOf maps a kernel verdict to ours; nil for kinds untrackd does not
// write (continue, break, queue, ...).
func verdictOf(v *expr.Verdict) *Verdict {
	var k VerdictKind
	switch v.Kind {
	case expr.VerdictAccept:
		k = Accept
	case expr.VerdictDrop:
		k = Drop
	case expr.VerdictReturn:
		k = Return
	case expr.VerdictJump:
		k = Jump
	case expr.VerdictGoto:
		k = Goto
	default:
		return nil
	}
	return &Verdict{Kind: k, Chain: v.Chain}
}
