package calc

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
	"github.com/untrackd/untrackd/proto"
)

// itemKey identifies something a rule selector can match: a HostEndpoint
// (of any node) or a GlobalNetworkSet.
type itemKey struct {
	kind model.Kind
	name string
}

// namedPort is one named port of an endpoint.
type namedPort struct {
	name  string
	proto uint8
	port  uint16
}

// item is what a selector sees of a HostEndpoint or GlobalNetworkSet: its
// labels (a HostEndpoint's include those its profiles apply), the networks
// it contributes to an IP set when it matches, and, for endpoints, its
// addresses and named ports.
//
// The networks are kept as the member strings IP sets carry, made once
// per item: every set the item is in shares them (with 100,000 networks in
// several sets each, a string per membership cost megabytes).
type item struct {
	labels selector.Map
	nets   []string // canonical CIDRs (netip.Prefix.String)
	addrs  []netip.Addr
	ports  []namedPort
}

// hostEndpointItem returns the IP-set view of a HostEndpoint with the
// given effective labels: its expected IPs as host prefixes, and its named
// ports.
func hostEndpointItem(h *model.HostEndpoint, labels map[string]string) *item {
	it := &item{labels: labels}
	for _, s := range h.Spec.ExpectedIPs {
		if a, err := model.ParseIP(s); err == nil {
			a = a.Unmap()
			it.addrs = append(it.addrs, a)
			it.nets = append(it.nets, netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	for _, p := range h.Spec.Ports {
		if n, ok := p.Protocol.Number(); ok {
			it.ports = append(it.ports, namedPort{name: p.Name, proto: n, port: p.Port})
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
			it.nets = append(it.nets, p.String())
		}
	}
	return it
}

// ipSetSpec says what an IP set holds: the networks of the items sel
// matches, or, when port is set, the (address, protocol, port) of the
// named port port.name with protocol port.proto on the endpoints sel
// matches.
type ipSetSpec struct {
	sel  *selector.Selector
	port *namedPort // nil: a set of networks; port.port unused
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// id returns the IP set's id: the selector's id for a set of networks, a
// digest of selector, port name and protocol for a named-port set.
func (s ipSetSpec) id() string {
	if s.port == nil {
		return s.sel.UniqueID()
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", s.sel.String(), s.port.name, s.port.proto)))
	return strings.ToLower(idEncoding.EncodeToString(sum[:]))[:24]
}

func (s ipSetSpec) setType() proto.IPSetType {
	if s.port == nil {
		return proto.IPSetType_IP_SET_NETS
	}
	return proto.IPSetType_IP_SET_NAMED_PORTS
}

// members returns what it contributes to the set if sel matches it. The
// caller must not modify the slice.
func (s ipSetSpec) members(it *item) []string {
	if s.port == nil {
		return it.nets
	}
	var out []string
	for _, p := range it.ports {
		if p.name != s.port.name || p.proto != s.port.proto {
			continue
		}
		for _, a := range it.addrs {
			out = append(out, fmt.Sprintf("%s,%s:%d", a, protoName(p.proto), p.port))
		}
	}
	return out
}

func protoName(p uint8) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 132:
		return "sctp"
	}
	return fmt.Sprint(p)
}

// ipSetIndex keeps every selectable item and the IP sets active rules use.
// Each active set has a reference count (one per rule reference) and a
// member count (several items may contribute the same member).
//
// byLabel lists the items by label key and value, so that a new set whose
// selector requires a label (selector.Required: role == 'web' && …)
// evaluates only the items carrying it, not all of them: with 10,000
// endpoints and hundreds of rule selectors, the scans were most of a cold
// start's calculation.
type ipSetIndex struct {
	seq     *Sequencer
	items   map[itemKey]*item
	sets    map[string]*ipSet
	byLabel map[string]map[string][]itemKey
}

type ipSet struct {
	spec    ipSetSpec
	refs    int
	members map[string]int
}

func newIPSetIndex(seq *Sequencer) *ipSetIndex {
	return &ipSetIndex{seq: seq, items: map[itemKey]*item{}, sets: map[string]*ipSet{},
		byLabel: map[string]map[string][]itemKey{}}
}

// candidates calls f for every item sel may match: those with the label
// it requires, or all of them.
func (x *ipSetIndex) candidates(sel *selector.Selector, f func(*item)) {
	key, values, ok := sel.Required()
	if !ok {
		for _, it := range x.items {
			f(it)
		}
		return
	}
	for _, v := range values {
		for _, k := range x.byLabel[key][v] {
			f(x.items[k])
		}
	}
}

// index records (add) or forgets the item k's labels in byLabel.
func (x *ipSetIndex) index(k itemKey, labels map[string]string, add bool) {
	for key, v := range labels {
		byValue := x.byLabel[key]
		if add {
			if byValue == nil {
				byValue = map[string][]itemKey{}
				x.byLabel[key] = byValue
			}
			byValue[v] = append(byValue[v], k)
			continue
		}
		ks := byValue[v]
		if i := slices.Index(ks, k); i >= 0 {
			ks[i] = ks[len(ks)-1]
			ks = ks[:len(ks)-1]
		}
		switch {
		case len(ks) > 0:
			byValue[v] = ks
		case len(byValue) > 1:
			delete(byValue, v)
		default:
			delete(x.byLabel, key)
		}
	}
}

// ref takes a reference on the IP set of spec; the first creates it from
// every matching item.
func (x *ipSetIndex) ref(spec ipSetSpec) {
	id := spec.id()
	if s := x.sets[id]; s != nil {
		s.refs++
		return
	}
	s := &ipSet{spec: spec, refs: 1, members: map[string]int{}}
	x.candidates(spec.sel, func(it *item) {
		if spec.sel.Evaluate(it.labels) {
			for _, m := range spec.members(it) {
				s.members[m]++
			}
		}
	})
	x.sets[id] = s
	x.seq.OnIPSetUpdate(id, spec.setType(), func() []string { return slices.Sorted(maps.Keys(s.members)) })
}

// unref drops a reference; the last removes the set.
func (x *ipSetIndex) unref(spec ipSetSpec) {
	id := spec.id()
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
	if old == nil || it == nil || !maps.Equal(old.labels, it.labels) {
		if old != nil {
			x.index(k, old.labels, false)
		}
		if it != nil {
			x.index(k, it.labels, true)
		}
	}
	for id, s := range x.sets {
		oldMatch := old != nil && s.spec.sel.Evaluate(old.labels)
		newMatch := it != nil && s.spec.sel.Evaluate(it.labels)
		if !oldMatch && !newMatch {
			continue
		}
		if newMatch {
			for _, m := range s.spec.members(it) {
				if s.members[m]++; s.members[m] == 1 {
					x.seq.OnIPSetMemberAdded(id, m)
				}
			}
		}
		if oldMatch {
			for _, m := range s.spec.members(old) {
				if s.members[m]--; s.members[m] == 0 {
					delete(s.members, m)
					x.seq.OnIPSetMemberRemoved(id, m)
				}
			}
		}
	}
}
