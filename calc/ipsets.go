package calc

import (
	"net/netip"
	"sort"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
)

// itemKey identifies something a rule selector can match: a HostEndpoint
// (of any node) or a GlobalNetworkSet.
type itemKey struct {
	kind model.Kind
	name string
}

// item is what a selector sees of a HostEndpoint or GlobalNetworkSet: its
// labels, and the networks it contributes to an IP set when it matches.
type item struct {
	labels selector.Map
	nets   []netip.Prefix
}

// hostEndpointItem returns the IP-set view of a HostEndpoint (nil: absent):
// its expected IPs as host prefixes.
func hostEndpointItem(h *model.HostEndpoint) *item {
	if h == nil {
		return nil
	}
	it := &item{labels: h.Metadata.Labels}
	for _, s := range h.Spec.ExpectedIPs {
		if a, err := model.ParseIP(s); err == nil {
			a = a.Unmap()
			it.nets = append(it.nets, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return it
}

// netSetItem returns the IP-set view of a GlobalNetworkSet (nil: absent).
func netSetItem(s *model.GlobalNetworkSet) *item {
	if s == nil {
		return nil
	}
	it := &item{labels: s.Metadata.Labels}
	for _, n := range s.Spec.Nets {
		if p, err := model.ParseNet(n); err == nil {
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			it.nets = append(it.nets, p)
		}
	}
	return it
}

// ipSetIndex keeps every selectable item and the IP sets active rules use.
// Each active set has a reference count (one per rule reference) and a
// member count per network (several items may contribute the same one).
type ipSetIndex struct {
	seq   *Sequencer
	items map[itemKey]*item
	sets  map[string]*ipSet
}

type ipSet struct {
	sel     *selector.Selector
	refs    int
	members map[netip.Prefix]int
}

func newIPSetIndex(seq *Sequencer) *ipSetIndex {
	return &ipSetIndex{seq: seq, items: map[itemKey]*item{}, sets: map[string]*ipSet{}}
}

// ref takes a reference on the IP set of sel; the first creates it from
// every matching item.
func (x *ipSetIndex) ref(sel *selector.Selector) {
	id := sel.UniqueID()
	if s := x.sets[id]; s != nil {
		s.refs++
		return
	}
	s := &ipSet{sel: sel, refs: 1, members: map[netip.Prefix]int{}}
	for _, it := range x.items {
		if sel.Evaluate(it.labels) {
			for _, n := range it.nets {
				s.members[n]++
			}
		}
	}
	x.sets[id] = s
	x.seq.OnIPSetUpdate(id, prefixStrings(s.members))
}

// unref drops a reference; the last removes the set.
func (x *ipSetIndex) unref(sel *selector.Selector) {
	id := sel.UniqueID()
	s := x.sets[id]
	if s == nil {
		return
	}
	s.refs--
	if s.refs == 0 {
		delete(x.sets, id)
		x.seq.OnIPSetRemove(id)
	}
}

// setItem records an item's new state (nil: absent) and updates the
// membership of every active set it matched before or matches now.
func (x *ipSetIndex) setItem(k itemKey, it *item) {
	old := x.items[k]
	if it == nil {
		delete(x.items, k)
	} else {
		x.items[k] = it
	}
	if old == nil && it == nil {
		return
	}
	for id, s := range x.sets {
		oldMatch := old != nil && s.sel.Evaluate(old.labels)
		newMatch := it != nil && s.sel.Evaluate(it.labels)
		if !oldMatch && !newMatch {
			continue
		}
		if newMatch {
			for _, n := range it.nets {
				if s.members[n]++; s.members[n] == 1 {
					x.seq.OnIPSetMemberAdded(id, n.String())
				}
			}
		}
		if oldMatch {
			for _, n := range old.nets {
				if s.members[n]--; s.members[n] == 0 {
					delete(s.members, n)
					x.seq.OnIPSetMemberRemoved(id, n.String())
				}
			}
		}
	}
}

func prefixStrings(m map[netip.Prefix]int) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p.String())
	}
	sort.Strings(out)
	return out
}
