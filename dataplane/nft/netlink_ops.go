package nft

import (
	"fmt"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

var newSetElemType = netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)

// encode turns tx into netlink messages, each tagged with its operation.
func (n *Netlink) encode(tx *Transaction) ([]batchMsg, error) {
	rec, err := newRecorder()
	if err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	comp := &ruleCompiler{table: n.table}
	var out []batchMsg
	for i, op := range tx.Ops {
		if err := n.queue(rec, comp, op); err != nil {
			return nil, &OpError{Index: i, Op: op, Err: err}
		}
		msgs, err := rec.take()
		if err != nil {
			return nil, &OpError{Index: i, Op: op, Err: fmt.Errorf("encoding: %v: %w", err, ErrInvalid)}
		}
		for _, m := range msgs {
			if op.Verb == AddElements && m.Header.Type == newSetElemType {
				// Adding an element that exists is an error (EEXIST),
				// as in nft's "create element"; without NLM_F_EXCL the
				// kernel ignores an identical element.
				m.Header.Flags |= netlink.Excl
			}
			out = append(out, batchMsg{msg: m, op: i})
		}
	}
	return out, nil
}

// queue queues the messages of one operation on rec.
func (n *Netlink) queue(rec *recorder, comp *ruleCompiler, op Op) error {
	conn, t := rec.conn, n.table
	switch op.Verb {
	case AddTable:
		conn.AddTable(t)
	case DeleteTable:
		conn.DelTable(t)
	case AddChain:
		if op.Chain == nil {
			return fmt.Errorf("no chain: %w", ErrInvalid)
		}
		c, err := libChain(t, op.Chain)
		if err != nil {
			return err
		}
		conn.AddChain(c)
	case FlushChain:
		conn.FlushChain(&nftables.Chain{Table: t, Name: op.Name})
	case DeleteChain:
		conn.DelChain(&nftables.Chain{Table: t, Name: op.Name})
	case AddRule:
		return queueRule(conn, comp, op)
	case DeleteRule:
		if op.Handle == 0 {
			return fmt.Errorf("rule handle 0: %w", ErrInvalid)
		}
		return conn.DelRule(&nftables.Rule{Table: t, Chain: &nftables.Chain{Table: t, Name: op.Name}, Handle: op.Handle})
	case AddSet:
		if op.Set == nil {
			return fmt.Errorf("no set: %w", ErrInvalid)
		}
		if op.Set.Type.IsAddrPort() {
			m, err := tupleSetMessage(t, op.Set, comp.newSetID())
			if err != nil {
				return err
			}
			rec.queueRaw(m)
			return nil
		}
		if op.Set.Type == SetPorts {
			return queuePortSet(conn, t, op.Set, comp.newSetID())
		}
		kt, err := setKeyType(op.Set.Type)
		if err != nil {
			return err
		}
		// An explicit ID keeps the library's global ID counter (not safe
		// for concurrent use) out of it.
		return conn.AddSet(&nftables.Set{Table: t, Name: op.Set.Name, ID: comp.newSetID(), Interval: true,
			KeyType: kt, Comment: op.Set.Comment}, nil)
	case DeleteSet:
		conn.DelSet(&nftables.Set{Table: t, Name: op.Name})
	case AddElements, DeleteElements:
		if len(op.Tuples) > 0 && len(op.Elements) > 0 {
			return fmt.Errorf("intervals and tuples in one operation: %w", ErrInvalid)
		}
		for _, chunk := range chunkIntervals(op.Elements) {
			m, err := intervalMessage(t.Name, op.Name, op.Verb == AddElements, chunk, op.Elements[0].First.Is4())
			if err != nil {
				return err
			}
			rec.queueRaw(m)
		}
		for _, chunk := range chunkTuples(op.Tuples) {
			keys, err := tupleKeys(chunk, op.Tuples[0].Addr.Is4())
			if err != nil {
				return err
			}
			rec.queueRaw(elementMessage(t.Name, op.Name, op.Verb == AddElements, keys))
		}
	default:
		return fmt.Errorf("verb %d: %w", op.Verb, ErrInvalid)
	}
	return nil
}

// queueRule queues a rule and the anonymous sets it looks up.
func queueRule(conn *nftables.Conn, comp *ruleCompiler, op Op) error {
	if op.Rule == nil {
		return fmt.Errorf("no rule: %w", ErrInvalid)
	}
	exprs, sets, err := comp.compile(*op.Rule)
	if err != nil {
		return err
	}
	for _, s := range sets {
		chunks := chunkElements(s.elems)
		if err := conn.AddSet(s.set, chunks[0]); err != nil {
			return fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		// The library refuses to add elements to an anonymous set, but the
		// kernel accepts them until a rule binds the set; larger sets than
		// one message holds need that.
		more := *s.set
		more.Anonymous = false
		for _, c := range chunks[1:] {
			if err := conn.SetAddElements(&more, c); err != nil {
				return fmt.Errorf("%v: %w", err, ErrInvalid)
			}
		}
	}
	ud := userdata.AppendString(nil, userdata.TypeComment, nftComment(op.Rule.StoredComment()))
	conn.AddRule(&nftables.Rule{
		Table:    comp.table,
		Chain:    &nftables.Chain{Table: comp.table, Name: op.Name},
		Exprs:    exprs,
		UserData: ud,
	})
	return nil
}

// nftComment makes a stored comment safe for nft's listing, which prints it
// verbatim between double quotes: double quotes become single quotes and
// control characters spaces, so a saved `nft list ruleset` can be loaded
// again. The hash at its start is unaffected.
func nftComment(c string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r == 0x7f:
			return ' '
		}
		return r
	}, c)
}

var hookNums = map[Hook]nftables.ChainHook{
	HookPrerouting:  unix.NF_INET_PRE_ROUTING,
	HookInput:       unix.NF_INET_LOCAL_IN,
	HookForward:     unix.NF_INET_FORWARD,
	HookOutput:      unix.NF_INET_LOCAL_OUT,
	HookPostrouting: unix.NF_INET_POST_ROUTING,
}

// libChain converts a Chain to the library's; a base chain is of type
// filter, and an empty policy leaves the kernel's default (accept).
func libChain(t *nftables.Table, c *Chain) (*nftables.Chain, error) {
	lc := &nftables.Chain{Table: t, Name: c.Name}
	if c.Base == nil {
		return lc, nil
	}
	h, ok := hookNums[c.Base.Hook]
	if !ok {
		return nil, fmt.Errorf("hook %q: %w", c.Base.Hook, ErrInvalid)
	}
	lc.Type = nftables.ChainTypeFilter
	lc.Hooknum = nftables.ChainHookRef(h)
	lc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(c.Base.Priority))
	switch c.Base.Policy {
	case PolicyAccept:
		p := nftables.ChainPolicyAccept
		lc.Policy = &p
	case PolicyDrop:
		p := nftables.ChainPolicyDrop
		lc.Policy = &p
	case "":
	default:
		return nil, fmt.Errorf("policy %q: %w", c.Base.Policy, ErrInvalid)
	}
	return lc, nil
}
