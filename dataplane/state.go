package dataplane

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// desired is the dataplane state the calculation graph asked for, recorded
// message by message, and the host's interfaces.
type desired struct {
	config     *proto.ConfigUpdate
	endpoints  map[string]*proto.HostEndpointUpdate
	policies   map[string]*proto.Policy
	profiles   map[string]*proto.Profile
	ipsets     map[string]*ipset
	interfaces map[string][]netip.Addr
	inSync     bool
	// gone are the sets removed since the last write, in case one comes
	// back before the next (its kernel elements are still the old ones).
	gone map[string]*ipset
	// changedSets are the kernel sets whose elements changed since the
	// driver last wrote them successfully (see elements).
	changedSets map[string]bool
}

// ipset is one IP set's members. Members are kept as received: the list
// of a full update, turned into a map only when the first delta arrives
// (most sets never get one, and a list takes a third of a map's memory:
// this matters with 300,000 members).
//
// Its kernel elements are not kept: they are computed from the members
// when the set changes (and for every set at a read-back), and dropped once
// written, since a second copy of 300,000 intervals costs 18 MB. What the
// kernel holds is kept only while the set is dirty, for the diff: written
// is computed just before the first change after a write.
type ipset struct {
	typ     proto.IPSetType
	list    []string            // members of the last full update, while members is nil
	members map[string]struct{} // members, once a delta has arrived
	// dirty is set while the members differ from what was last written.
	dirty bool
	// written are the elements last written (v4, v6), while dirty; nil
	// for a set never written.
	written *[2]elements
	// n4, n6 count the elements as last computed (for Status).
	n4, n6 int
}

// elements are the contents of one kernel set: intervals for an address
// set, tuples for an address-protocol-port set.
type elements struct {
	intervals []nft.Interval
	tuples    []nft.AddrPort
}

func newDesired() *desired {
	return &desired{endpoints: map[string]*proto.HostEndpointUpdate{}, policies: map[string]*proto.Policy{},
		profiles: map[string]*proto.Profile{}, ipsets: map[string]*ipset{}, gone: map[string]*ipset{}, changedSets: map[string]bool{}}
}

// record applies one message. It never fails: a member that does not parse
// is ignored when elements are computed (the graph only sends valid ones).
func (d *desired) record(m *proto.ToDataplane) {
	switch p := m.Payload.(type) {
	case *proto.ToDataplane_InSync:
		d.inSync = true
	case *proto.ToDataplane_ConfigUpdate:
		d.config = p.ConfigUpdate
	case *proto.ToDataplane_IpsetUpdate:
		u := p.IpsetUpdate
		next := &ipset{typ: u.Type, list: u.Members, dirty: true}
		old := d.ipsets[u.Id]
		if old == nil {
			old = d.gone[u.Id]
		}
		if old != nil && old.typ == u.Type {
			next.written = old.snapshot()
		}
		delete(d.gone, u.Id)
		d.ipsets[u.Id] = next
	case *proto.ToDataplane_IpsetDeltaUpdate:
		s := d.ipsets[p.IpsetDeltaUpdate.Id]
		if s == nil {
			return
		}
		s.written = s.snapshot()
		s.dirty = true
		if s.members == nil {
			s.members = make(map[string]struct{}, len(s.list))
			for _, mem := range s.list {
				s.members[mem] = struct{}{}
			}
			s.list = nil
		}
		for _, mem := range p.IpsetDeltaUpdate.Removed {
			delete(s.members, mem)
		}
		for _, mem := range p.IpsetDeltaUpdate.Added {
			s.members[mem] = struct{}{}
		}
	case *proto.ToDataplane_IpsetRemove:
		if s := d.ipsets[p.IpsetRemove.Id]; s != nil {
			d.gone[p.IpsetRemove.Id] = s
		}
		delete(d.ipsets, p.IpsetRemove.Id)
	case *proto.ToDataplane_ActivePolicyUpdate:
		d.policies[p.ActivePolicyUpdate.Name] = p.ActivePolicyUpdate.Policy
	case *proto.ToDataplane_ActivePolicyRemove:
		delete(d.policies, p.ActivePolicyRemove.Name)
	case *proto.ToDataplane_ActiveProfileUpdate:
		d.profiles[p.ActiveProfileUpdate.Name] = p.ActiveProfileUpdate.Profile
	case *proto.ToDataplane_ActiveProfileRemove:
		delete(d.profiles, p.ActiveProfileRemove.Name)
	case *proto.ToDataplane_HostEndpointUpdate:
		d.endpoints[p.HostEndpointUpdate.Name] = p.HostEndpointUpdate
	case *proto.ToDataplane_HostEndpointRemove:
		delete(d.endpoints, p.HostEndpointRemove.Name)
	}
}

// renderInput returns the render input for the current state.
func (d *desired) renderInput() render.Input {
	ids := make(map[string]proto.IPSetType, len(d.ipsets))
	for id, s := range d.ipsets {
		ids[id] = s.typ
	}
	return render.Input{Config: d.config, Endpoints: d.endpoints, Policies: d.policies, Profiles: d.profiles,
		IPSets: ids, Interfaces: d.interfaces}
}

// snapshot returns the elements the kernel holds for s as far as the
// driver knows: those last written (kept while dirty), or, for a clean
// set, its elements now.
func (s *ipset) snapshot() *[2]elements {
	if s.dirty {
		return s.written
	}
	v4, v6 := s.compute()
	return &[2]elements{v4, v6}
}

// noteChanged records in changedSets the kernel sets of the IP sets whose
// members changed since they were last written.
func (d *desired) noteChanged() {
	for id, s := range d.ipsets {
		if s.dirty {
			d.changedSets[render.SetName(id, s.typ, nft.IPv4)] = true
			d.changedSets[render.SetName(id, s.typ, nft.IPv6)] = true
		}
	}
}

// elementSource returns a function that computes the kernel elements of a
// set, by set name, from its IP set's members, when asked: so that only
// the sets a plan looks at are computed, and each one's can be dropped once
// queued or compared (all of them at once are 18 MB with 300,000
// members). An IP set's two families are computed together; the one not
// asked for is kept until it is. Unknown names have no elements.
func (d *desired) elementSource() func(name string) elements {
	type ref struct {
		s      *ipset
		n4, n6 string
	}
	byName := make(map[string]ref, 2*len(d.ipsets))
	for id, s := range d.ipsets {
		r := ref{s, render.SetName(id, s.typ, nft.IPv4), render.SetName(id, s.typ, nft.IPv6)}
		byName[r.n4], byName[r.n6] = r, r
	}
	stash := map[string]elements{}
	return func(name string) elements {
		if e, ok := stash[name]; ok {
			delete(stash, name)
			return e
		}
		r, ok := byName[name]
		if !ok {
			return elements{}
		}
		v4, v6 := r.s.compute()
		r.s.n4, r.s.n6 = v4.len(), v6.len()
		if name == r.n4 {
			stash[r.n6] = v6
			return v4
		}
		stash[r.n4] = v4
		return v6
	}
}

// len is the number of elements.
func (e elements) len() int { return len(e.intervals) + len(e.tuples) }

// memberCounts returns, by set name, the number of members of the IP set
// behind it (both families together).
func (d *desired) memberCounts() map[string]int {
	out := make(map[string]int, 2*len(d.ipsets))
	for id, s := range d.ipsets {
		n := len(s.list) + len(s.members)
		out[render.SetName(id, s.typ, nft.IPv4)], out[render.SetName(id, s.typ, nft.IPv6)] = n, n
	}
	return out
}

// written returns, by set name, the elements last written of the sets
// that changed since (those of a set never written are absent).
func (d *desired) writtenElements() map[string]elements {
	out := map[string]elements{}
	for id, s := range d.ipsets {
		if s.dirty && s.written != nil {
			out[render.SetName(id, s.typ, nft.IPv4)] = s.written[0]
			out[render.SetName(id, s.typ, nft.IPv6)] = s.written[1]
		}
	}
	return out
}

// markWritten records that the kernel now holds every set's elements.
func (d *desired) markWritten() {
	for _, s := range d.ipsets {
		s.dirty, s.written = false, nil
	}
	clear(d.gone)
	clear(d.changedSets)
}

// each calls fn for every member.
func (s *ipset) each(fn func(string)) {
	if s.members == nil {
		for _, mem := range s.list {
			fn(mem)
		}
		return
	}
	for mem := range s.members {
		fn(mem)
	}
}

func (s *ipset) compute() (v4, v6 elements) {
	if s.typ == proto.IPSetType_IP_SET_NAMED_PORTS {
		s.each(func(mem string) {
			if t, ok := parseNamedPort(mem); ok {
				if t.Addr.Is4() {
					v4.tuples = append(v4.tuples, t)
				} else {
					v6.tuples = append(v6.tuples, t)
				}
			}
		})
		slices.SortFunc(v4.tuples, nft.AddrPort.Compare)
		slices.SortFunc(v6.tuples, nft.AddrPort.Compare)
		return v4, v6
	}
	nets := make([]netip.Prefix, 0, len(s.list)+len(s.members))
	s.each(func(mem string) {
		if p, err := netip.ParsePrefix(mem); err == nil {
			nets = append(nets, p)
		}
	})
	v4.intervals, v6.intervals = render.Intervals(nets)
	return v4, v6
}

var l4Protos = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}

// parseNamedPort parses a named-port member "10.0.0.1,tcp:80".
func parseNamedPort(s string) (nft.AddrPort, bool) {
	addr, rest, ok := strings.Cut(s, ",")
	if !ok {
		return nft.AddrPort{}, false
	}
	protoName, port, ok := strings.Cut(rest, ":")
	if !ok {
		return nft.AddrPort{}, false
	}
	a, err := netip.ParseAddr(addr)
	p, err2 := strconv.ParseUint(port, 10, 16)
	n, known := l4Protos[protoName]
	if err != nil || err2 != nil || !known {
		return nft.AddrPort{}, false
	}
	return nft.AddrPort{Addr: a.Unmap(), Proto: n, Port: uint16(p)}, true
}
