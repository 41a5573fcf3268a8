package dataplane

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

// plan returns the transaction that turns the table from have (nil: no
// table) into want, with set elements from elems. Order matters and is:
//
//  1. the table, if missing;
//  2. new sets (empty);
//  3. new chains, all of them before any rule so jumps resolve;
//  4. changed chains: flush, then add every rule;
//  5. element changes, deletions before additions (so a merged interval
//     never overlaps the pieces it replaces);
//  6. obsolete chains: flush all, then delete all (nothing jumps to them
//     any more: the chains that did were rewritten in step 4);
//  7. obsolete sets (no rule uses them any more).
//
// Elements come after the rules because the kernel walks the whole
// transaction each time a rule binds an anonymous set: with 300,000
// element additions ahead of 8,000 such rules, a cold start spent seconds
// there. Within one atomic transaction the order is invisible to packets.
//
// Set elements are compared only for the sets in check (nil: every set);
// the others are taken to hold what the driver last wrote. elems gives a
// set's elements by name; it is asked only for the sets plan adds or
// compares, once each.
func plan(have *nft.TableState, want *render.Ruleset, elems func(string) elements, check map[string]bool) *nft.Transaction {
	tx := &nft.Transaction{}
	if have != nil && incompatible(have, want) {
		// Rebuild the whole table in the same transaction: atomic, so
		// there is no moment without our base chains.
		tx.DeleteTable()
		have = nil
	}
	if have == nil {
		tx.AddTable()
		have = &nft.TableState{}
	}
	type setChange struct {
		name       string
		del, add   []nft.Interval
		delT, addT []nft.AddrPort
	}
	var changes []setChange
	for _, name := range slices.Sorted(maps.Keys(want.Sets)) {
		old := have.Sets[name]
		if old == nil || old.Type != want.Sets[name].Type {
			if old != nil { // a set's type cannot change; recreate it
				tx.DeleteSet(name)
			}
			tx.AddSet(want.Sets[name])
			e := elems(name)
			changes = append(changes, setChange{name: name, add: e.intervals, addT: e.tuples})
			continue
		}
		if check != nil && !check[name] {
			continue
		}
		c, e := setChange{name: name}, elems(name)
		c.del, c.add = diffSorted(old.Elements, e.intervals, compareIntervals)
		c.delT, c.addT = diffSorted(old.Tuples, e.tuples, nft.AddrPort.Compare)
		changes = append(changes, c)
	}
	for _, name := range slices.Sorted(maps.Keys(want.Chains)) {
		c, old := want.Chains[name], have.Chains[name]
		if old == nil || !sameBase(old.Base, c.Base) {
			tx.AddChain(*c)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Chains)) {
		c, old := want.Chains[name], have.Chains[name]
		if old != nil && slices.Equal(old.Hashes(), c.Hashes()) {
			continue
		}
		if old != nil && len(old.Rules) > 0 {
			tx.FlushChain(name)
		}
		for _, r := range c.Rules {
			tx.AddRule(name, r)
		}
	}
	for _, c := range changes {
		tx.DeleteElements(c.name, c.del)
		tx.DeleteTuples(c.name, c.delT)
	}
	for _, c := range changes {
		tx.AddElements(c.name, c.add)
		tx.AddTuples(c.name, c.addT)
	}
	var obsolete []string
	for _, name := range slices.Sorted(maps.Keys(have.Chains)) {
		if want.Chains[name] == nil {
			obsolete = append(obsolete, name)
			if len(have.Chains[name].Rules) > 0 {
				tx.FlushChain(name)
			}
		}
	}
	for _, name := range obsolete {
		tx.DeleteChain(name)
	}
	for _, name := range slices.Sorted(maps.Keys(have.Sets)) {
		if _, ok := want.Sets[name]; !ok {
			tx.DeleteSet(name)
		}
	}
	return tx
}

// incompatible reports whether a chain in have cannot be turned into the
// wanted chain of the same name in place: a regular chain that should be a
// base chain or the reverse, or a base chain on another hook or priority;
// or a port set holds other ports than wanted (they are named after their
// content, so only a foreign hand makes one: constant, it cannot be
// changed, nor deleted while rules use it).
func incompatible(have *nft.TableState, want *render.Ruleset) bool {
	for name, s := range want.Sets {
		if old := have.Sets[name]; old != nil && old.Type == s.Type && !slices.Equal(old.Ports, s.Ports) {
			return true
		}
	}
	for name, c := range want.Chains {
		old := have.Chains[name]
		if old == nil {
			continue
		}
		if (old.Base == nil) != (c.Base == nil) {
			return true
		}
		if old.Base != nil && (old.Base.Hook != c.Base.Hook || old.Base.Priority != c.Base.Priority) {
			return true
		}
	}
	return false
}

// sameBase reports whether a chain found in the kernel already has the
// wanted base-chain properties (only the policy can differ once
// incompatible has been ruled out).
func sameBase(have, want *nft.BaseChain) bool {
	if have == nil || want == nil {
		return have == nil && want == nil
	}
	return *have == *want
}

func compareIntervals(a, b nft.Interval) int {
	if c := a.First.Compare(b.First); c != 0 {
		return c
	}
	return a.Last.Compare(b.Last)
}

// diffSorted compares two lists sorted by cmp and returns what to delete
// from have and what to add to reach want.
func diffSorted[T any](have, want []T, cmp func(a, b T) int) (del, add []T) {
	i, j := 0, 0
	for i < len(have) && j < len(want) {
		switch c := cmp(have[i], want[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			del = append(del, have[i])
			i++
		default:
			add = append(add, want[j])
			j++
		}
	}
	del = append(del, have[i:]...)
	add = append(add, want[j:]...)
	return del, add
}

// stateAfter returns what the table holds after a successful Run of a
// plan to want, as far as the driver needs to remember it: rule handles are
// not known (they are only needed for reading back), so RuleStates carry
// hashes only, and set elements are not kept (see ipset).
func stateAfter(want *render.Ruleset) *nft.TableState {
	st := &nft.TableState{Chains: map[string]*nft.ChainState{}, Sets: map[string]*nft.SetState{}}
	for name, c := range want.Chains {
		cs := &nft.ChainState{Name: name, Base: c.Base}
		for _, h := range c.Hashes() {
			cs.Rules = append(cs.Rules, nft.RuleState{Hash: h})
		}
		st.Chains[name] = cs
	}
	for name, s := range want.Sets {
		st.Sets[name] = &nft.SetState{Set: s}
	}
	return st
}
