package dataplane

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

// prefillElements is the number of new set elements from which Apply fills
// new sets ahead of the transaction that puts them to use, and the most
// elements one of those transactions carries.
const prefillElements = 50_000

// prefill returns transactions that create the sets of want that have
// (nil: no table) lacks and fill them, each carrying at most
// prefillElements elements, and the state the table is in after them. It
// returns none when the new sets hold fewer elements than that in all, or
// when plan will rebuild the table.
//
// It keeps a start-up's encoded batch (17 MB for 310,000 elements) and
// the kernel's copy of it from being held all at once, without giving up
// atomicity where it matters: until the main transaction's rules refer to
// them, new sets are not on any packet's path, and a table holding only
// sets has no hooks. If one of them fails, the sets created so far are
// found by the read-back that follows any failure and planned from there.
func prefill(have *nft.TableState, want *render.Ruleset, elems map[string]elements) ([]*nft.Transaction, *nft.TableState) {
	if have != nil && incompatible(have, want) {
		return nil, have
	}
	var names []string
	total := 0
	for _, name := range slices.Sorted(maps.Keys(want.Sets)) {
		if have != nil && have.Sets[name] != nil {
			continue // existing (or of another type: plan recreates it)
		}
		names = append(names, name)
		total += len(elems[name].intervals) + len(elems[name].tuples)
	}
	if total < prefillElements {
		return nil, have
	}
	after := &nft.TableState{Chains: map[string]*nft.ChainState{}, Sets: map[string]*nft.SetState{}}
	if have != nil {
		after.Chains, after.Sets = have.Chains, maps.Clone(have.Sets)
	}
	var txs []*nft.Transaction
	tx, room := &nft.Transaction{}, prefillElements
	if have == nil {
		tx.AddTable()
	}
	next := func() {
		txs = append(txs, tx)
		tx, room = &nft.Transaction{}, prefillElements
	}
	for _, name := range names {
		e := elems[name]
		tx.AddSet(want.Sets[name])
		for ivs := e.intervals; len(ivs) > 0; {
			if room == 0 {
				next()
			}
			n := min(room, len(ivs))
			tx.AddElements(name, ivs[:n])
			ivs, room = ivs[n:], room-n
		}
		for ts := e.tuples; len(ts) > 0; {
			if room == 0 {
				next()
			}
			n := min(room, len(ts))
			tx.AddTuples(name, ts[:n])
			ts, room = ts[n:], room-n
		}
		after.Sets[name] = &nft.SetState{Set: want.Sets[name], Elements: e.intervals, Tuples: e.tuples}
	}
	if tx.Len() > 0 {
		txs = append(txs, tx)
	}
	return txs, after
}
