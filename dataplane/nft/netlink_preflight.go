package nft

import (
	"errors"
	"fmt"
	"maps"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// The kernel accepts some operations that the Writer contract (and the
// Fake) reject, or rejects them with a vaguer errno:
//
//   - AddChain of a regular chain over an existing base chain is a silent
//     no-op in the kernel (the chain stays a base chain); the contract says
//     ErrExists.
//   - AddChain of a base chain over a regular chain, or with another hook or
//     priority than the existing base chain, is EOPNOTSUPP; the contract
//     says ErrExists and ErrBusy.
//   - A lookup of an IPv6 address in an IPv4 set (or the reverse), of an
//     address in an address-protocol-port set or of an
//     address-protocol-port tuple in an address set is accepted and
//     silently compares the wrong bytes; the contract says ErrInvalid.
//
// preflight catches these before anything is sent, from a dump of the
// table's chains and sets (no rules, no elements), replaying the
// transaction's own chain and set operations on it. The dump is cached
// with the kernel's ruleset generation ID and brought forward by the
// writer's own successful transactions, so it is read again only when
// another process has committed anything since (one GETGEN request tells).

type preflightChain struct {
	base *BaseChain
}

type preflightState struct {
	table  bool
	chains map[string]preflightChain
	sets   map[string]SetType
}

func needsPreflight(tx *Transaction) bool {
	for _, op := range tx.Ops {
		switch {
		case op.Verb == AddChain:
			return true
		case op.Verb == AddRule && op.Rule != nil:
			for _, e := range op.Rule.Exprs {
				if _, _, ok := SetLookup(e); ok {
					return true
				}
			}
		}
	}
	return false
}

// preflight returns an *OpError for the first operation of tx that breaks
// the rules above, or nil, and the chains and sets as they will be if the
// kernel applies tx (nil if they are not known). gen is the ruleset
// generation now. The caller holds n.mu.
func (n *Netlink) preflight(tx *Transaction, gen uint32) (*preflightState, error) {
	st := n.cachedPreflight(gen)
	if st == nil && needsPreflight(tx) {
		var err error
		if st, err = n.preflightRead(); err != nil {
			return nil, fmt.Errorf("nft: reading chains and sets: %w", err)
		}
	}
	if st == nil {
		return nil, nil
	}
	for i, op := range tx.Ops {
		if err := st.apply(op); err != nil {
			return nil, &OpError{Index: i, Op: op, Err: err}
		}
	}
	return st, nil
}

// cachedPreflight returns a copy of the cached chains and sets if no other
// process has committed a change since they were cached (the ruleset is
// still at generation gen), else nil.
func (n *Netlink) cachedPreflight(gen uint32) *preflightState {
	if n.pre == nil || gen != n.preGen {
		n.pre = nil
		return nil
	}
	return &preflightState{table: n.pre.table, chains: maps.Clone(n.pre.chains), sets: maps.Clone(n.pre.sets)}
}

func (n *Netlink) preflightRead() (*preflightState, error) {
	st := &preflightState{chains: map[string]preflightChain{}, sets: map[string]SetType{}}
	if _, err := n.conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return st, nil
		}
		return nil, err
	}
	st.table = true
	chains, err := n.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, err
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != TableName {
			continue
		}
		var pc preflightChain
		if c.Hooknum != nil {
			pc.base = &BaseChain{Hook: hookName(nftables.TableFamilyINet, *c.Hooknum)}
			if c.Priority != nil {
				pc.base.Priority = int32(*c.Priority)
			}
		}
		st.chains[c.Name] = pc
	}
	sets, err := n.listSets()
	if err != nil {
		return nil, err
	}
	for _, s := range sets {
		st.sets[s.Name] = s.Type
	}
	return st, nil
}

// apply checks op against the state and updates the state as the kernel
// would. Errors the kernel reports precisely itself (missing objects and
// so on) are left to it.
func (st *preflightState) apply(op Op) error {
	switch op.Verb {
	case AddTable:
		st.table = true
	case DeleteTable:
		st.table = false
		clear(st.chains)
		clear(st.sets)
	case AddChain:
		if op.Chain == nil {
			return nil
		}
		old, ok := st.chains[op.Chain.Name]
		switch {
		case !ok:
			st.chains[op.Chain.Name] = preflightChain{base: op.Chain.Base}
		case (old.base == nil) != (op.Chain.Base == nil):
			return fmt.Errorf("chain exists as another kind: %w", ErrExists)
		case old.base != nil && (old.base.Hook != op.Chain.Base.Hook || old.base.Priority != op.Chain.Base.Priority):
			return fmt.Errorf("base chain exists on hook %s priority %d: %w", old.base.Hook, old.base.Priority, ErrBusy)
		}
	case DeleteChain:
		delete(st.chains, op.Name)
	case AddSet:
		if _, ok := st.sets[op.Name]; !ok && op.Set != nil {
			st.sets[op.Name] = op.Set.Type
		}
	case DeleteSet:
		delete(st.sets, op.Name)
	case AddRule:
		if op.Rule == nil {
			return nil
		}
		for _, e := range op.Rule.Exprs {
			name, want, ok := SetLookup(e)
			if !ok {
				continue
			}
			if t, ok := st.sets[name]; ok && t != want {
				return fmt.Errorf("set %q has type %s, not %s: %w", name, t, want, ErrInvalid)
			}
		}
	}
	return nil
}

// SetLookup returns the named set a match looks up and the type that set
// must have; ok is false for an expression that looks up no named set.
func SetLookup(e Expr) (name string, want SetType, ok bool) {
	switch e := e.(type) {
	case AddrInSet:
		if e.Family == IPv6 {
			return e.Set, SetIPv6, true
		}
		return e.Set, SetIPv4, true
	case AddrPortInSet:
		if e.Family == IPv6 {
			return e.Set, SetIPv6ProtoPort, true
		}
		return e.Set, SetIPv4ProtoPort, true
	case Ports:
		if e.Set != "" {
			return e.Set, SetPorts, true
		}
	}
	return "", "", false
}
