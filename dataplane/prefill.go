package dataplane

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

// prefillElements is the number of members of new sets from which Apply
// fills new sets ahead of the transaction that puts them to use, and the
// most elements one of those transactions carries.
const prefillElements = 50_000

// prefill creates the sets of want that have (nil: no table) lacks and
// fills them, in transactions of at most prefillElements elements each,
// run one by one, computing each set's elements (elems) only when it is
// queued, so that they can go once sent. It returns the table as it is
// after them (the filled sets hold no elements there: they are not to be
// compared again) and the names of the sets it filled. It does nothing when
// the new sets have fewer members than prefillElements in all (members
// counts them), or when plan will rebuild the table.
//
// This keeps a start-up's elements (18 MB of intervals for 310,000) and
// its encoded batch (17 MB) from being held all at once, in the daemon and
// in the kernel, without giving up atomicity where it matters: until the
// main transaction's rules refer to them, new sets are not on any packet's
// path, and a table holding only sets has no hooks. If one of them fails,
// the sets created so far are found by the read-back that follows any
// failure and planned from there.
func (d *Driver) prefill(ctx context.Context, have *nft.TableState, want *render.Ruleset, elems func(string) elements,
	members map[string]int) (after *nft.TableState, filled map[string]bool, ops int, err error) {
	if have != nil && incompatible(have, want) {
		return have, nil, 0, nil
	}
	var names []string
	total := 0
	for _, name := range slices.Sorted(maps.Keys(want.Sets)) {
		if have != nil && have.Sets[name] != nil {
			continue // existing (or of another type: plan recreates it)
		}
		names = append(names, name)
		total += members[name]
	}
	if total < prefillElements {
		return have, nil, 0, nil
	}
	after = &nft.TableState{Chains: map[string]*nft.ChainState{}, Sets: map[string]*nft.SetState{}}
	if have != nil {
		after.Chains, after.Sets = have.Chains, maps.Clone(have.Sets)
	}
	filled = map[string]bool{}
	tx, room, n := &nft.Transaction{}, prefillElements, 0
	if have == nil {
		tx.AddTable()
	}
	send := func() error {
		n++
		if err := d.opts.Writer.Run(ctx, tx); err != nil {
			return fmt.Errorf("fill new sets (transaction %d, %d operations): %w", n, tx.Len(), err)
		}
		ops += tx.Len()
		tx, room = &nft.Transaction{}, prefillElements
		return nil
	}
	for _, name := range names {
		e := elems(name)
		tx.AddSet(want.Sets[name])
		for ivs := e.intervals; len(ivs) > 0; {
			if room == 0 {
				if err := send(); err != nil {
					return nil, nil, ops, err
				}
			}
			k := min(room, len(ivs))
			tx.AddElements(name, ivs[:k])
			ivs, room = ivs[k:], room-k
		}
		for ts := e.tuples; len(ts) > 0; {
			if room == 0 {
				if err := send(); err != nil {
					return nil, nil, ops, err
				}
			}
			k := min(room, len(ts))
			tx.AddTuples(name, ts[:k])
			ts, room = ts[k:], room-k
		}
		after.Sets[name] = &nft.SetState{Set: want.Sets[name]}
		filled[name] = true
	}
	if tx.Len() > 0 {
		if err := send(); err != nil {
			return nil, nil, ops, err
		}
	}
	return after, filled, ops, nil
}
