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
	// changedSets are the kernel sets whose elements changed since the
	// driver last wrote them successfully (see elements).
	changedSets map[string]bool
}

// ipset is one IP set's members and, computed on demand, its kernel
// elements per family. Members are kept as received: the list of a full
// update, turned into a map only when the first delta arrives (most sets
// never get one, and a list takes a third of a map's memory: this matters
// with 300,000 members).
type ipset struct {
	typ     proto.IPSetType
	list    []string            // members of the last full update, while members is nil
	members map[string]struct{} // members, once a delta has arrived
	// v4 and v6 are the elements of members; valid unless dirty.
	v4, v6 elements
	dirty  bool
}

// elements are the contents of one kernel set: intervals for an address
// set, tuples for an address-protocol-port set.
type elements struct {
	intervals []nft.Interval
	tuples    []nft.AddrPort
}

func newDesired() *desired {
	return &desired{endpoints: map[string]*proto.HostEndpointUpdate{}, policies: map[string]*proto.Policy{},
		profiles: map[string]*proto.Profile{}, ipsets: map[string]*ipset{}, changedSets: map[string]bool{}}
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
		d.ipsets[p.IpsetUpdate.Id] = &ipset{typ: p.IpsetUpdate.Type, list: p.IpsetUpdate.Members, dirty: true}
	case *proto.ToDataplane_IpsetDeltaUpdate:
		s := d.ipsets[p.IpsetDeltaUpdate.Id]
		if s == nil {
			return
		}
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
		s.dirty = true
	case *proto.ToDataplane_IpsetRemove:
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

// elements returns the kernel elements of every set, by set name,
// recomputing only the IP sets whose members changed, and records those in
// changedSets.
func (d *desired) elements() map[string]elements {
	out := make(map[string]elements, 2*len(d.ipsets))
	for id, s := range d.ipsets {
		n4, n6 := render.SetName(id, s.typ, nft.IPv4), render.SetName(id, s.typ, nft.IPv6)
		if s.dirty {
			s.v4, s.v6 = s.compute()
			s.dirty = false
			d.changedSets[n4], d.changedSets[n6] = true, true
		}
		out[n4], out[n6] = s.v4, s.v6
	}
	return out
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
