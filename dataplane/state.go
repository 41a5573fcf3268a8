package dataplane

import (
	"net/netip"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// desired is the dataplane state the calculation graph asked for, recorded
// message by message.
type desired struct {
	config    *proto.ConfigUpdate
	endpoints map[string]*proto.HostEndpointUpdate
	policies  map[string]*proto.Policy
	ipsets    map[string]*ipset
	inSync    bool
}

// ipset is one IP set's members and, computed on demand, its kernel
// elements per family.
type ipset struct {
	members map[netip.Prefix]struct{}
	// v4 and v6 are the merged intervals of members; valid unless dirty.
	v4, v6 []nft.Interval
	dirty  bool
}

func newDesired() *desired {
	return &desired{endpoints: map[string]*proto.HostEndpointUpdate{}, policies: map[string]*proto.Policy{}, ipsets: map[string]*ipset{}}
}

// record applies one message. It never fails: a member that is not a valid
// CIDR is ignored (the calculation graph only sends valid ones).
func (d *desired) record(m *proto.ToDataplane) {
	switch p := m.Payload.(type) {
	case *proto.ToDataplane_InSync:
		d.inSync = true
	case *proto.ToDataplane_ConfigUpdate:
		d.config = p.ConfigUpdate
	case *proto.ToDataplane_IpsetUpdate:
		s := &ipset{members: map[netip.Prefix]struct{}{}, dirty: true}
		for _, mem := range p.IpsetUpdate.Members {
			if pfx, err := netip.ParsePrefix(mem); err == nil {
				s.members[pfx] = struct{}{}
			}
		}
		d.ipsets[p.IpsetUpdate.Id] = s
	case *proto.ToDataplane_IpsetDeltaUpdate:
		s := d.ipsets[p.IpsetDeltaUpdate.Id]
		if s == nil {
			return
		}
		for _, mem := range p.IpsetDeltaUpdate.Removed {
			if pfx, err := netip.ParsePrefix(mem); err == nil {
				delete(s.members, pfx)
			}
		}
		for _, mem := range p.IpsetDeltaUpdate.Added {
			if pfx, err := netip.ParsePrefix(mem); err == nil {
				s.members[pfx] = struct{}{}
			}
		}
		s.dirty = true
	case *proto.ToDataplane_IpsetRemove:
		delete(d.ipsets, p.IpsetRemove.Id)
	case *proto.ToDataplane_ActivePolicyUpdate:
		d.policies[p.ActivePolicyUpdate.Name] = p.ActivePolicyUpdate.Policy
	case *proto.ToDataplane_ActivePolicyRemove:
		delete(d.policies, p.ActivePolicyRemove.Name)
	case *proto.ToDataplane_HostEndpointUpdate:
		d.endpoints[p.HostEndpointUpdate.Name] = p.HostEndpointUpdate
	case *proto.ToDataplane_HostEndpointRemove:
		delete(d.endpoints, p.HostEndpointRemove.Name)
	}
}

// renderInput returns the render input for the current state.
func (d *desired) renderInput() render.Input {
	ids := make(map[string]bool, len(d.ipsets))
	for id := range d.ipsets {
		ids[id] = true
	}
	return render.Input{Config: d.config, Endpoints: d.endpoints, Policies: d.policies, IPSets: ids}
}

// elements returns the kernel elements of every set, by set name,
// recomputing only the IP sets whose members changed.
func (d *desired) elements() map[string][]nft.Interval {
	out := make(map[string][]nft.Interval, 2*len(d.ipsets))
	for id, s := range d.ipsets {
		if s.dirty {
			nets := make([]netip.Prefix, 0, len(s.members))
			for p := range s.members {
				nets = append(nets, p)
			}
			s.v4, s.v6 = render.Intervals(nets)
			s.dirty = false
		}
		out[render.SetName(id, nft.IPv4)] = s.v4
		out[render.SetName(id, nft.IPv6)] = s.v6
	}
	return out
}
