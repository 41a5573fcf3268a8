package calc

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/proto"
)

// endpointIndex tracks this node's HostEndpoints and, for each, the policies
// whose selectors match its labels and the profiles it lists. It holds the
// active references: one per (local endpoint, matching policy) pair and one
// per (local endpoint, existing listed profile) pair.
type endpointIndex struct {
	nodeName string
	seq      *Sequencer
	policies *active
	profiles *active
	local    map[string]*localEndpoint
}

type localEndpoint struct {
	hep      *model.HostEndpoint
	labels   map[string]string  // own labels plus those its profiles apply
	matched  map[string]*policy // policy name → policy
	profiles []string           // listed profiles that exist, in order
}

func newEndpointIndex(nodeName string, seq *Sequencer, policies, profiles *active) *endpointIndex {
	return &endpointIndex{nodeName: nodeName, seq: seq, policies: policies, profiles: profiles, local: map[string]*localEndpoint{}}
}

// set records HostEndpoint name (nil: absent) with its effective labels.
// Endpoints of other nodes are treated as absent here; they only contribute
// to IP sets.
func (x *endpointIndex) set(name string, hep *model.HostEndpoint, labels map[string]string, policies *policyStore, profiles *profileStore) {
	if hep != nil && hep.Spec.Node != x.nodeName {
		hep = nil
	}
	ep := x.local[name]
	if hep == nil {
		if ep == nil {
			return
		}
		for pname := range ep.matched {
			x.policies.removeRef(pname)
		}
		for _, pname := range ep.profiles {
			x.profiles.removeRef(pname)
		}
		delete(x.local, name)
		x.seq.OnEndpointRemove(name)
		return
	}
	if ep == nil {
		ep = &localEndpoint{matched: map[string]*policy{}}
		x.local[name] = ep
	}
	ep.hep, ep.labels = hep, labels
	matched := map[string]*policy{}
	policies.all(func(p *policy) {
		if p.selects(labels) {
			matched[p.name] = p
		}
	})
	for pname, p := range matched {
		if ep.matched[pname] == nil {
			x.policies.addRef(pname, p)
		}
	}
	for pname := range ep.matched {
		if matched[pname] == nil {
			x.policies.removeRef(pname)
		}
	}
	ep.matched = matched
	x.setProfiles(ep, profiles)
	x.seq.OnEndpointUpdate(ep.toProto(name))
}

// setProfiles recomputes which of the endpoint's listed profiles exist and
// moves its references accordingly.
func (x *endpointIndex) setProfiles(ep *localEndpoint, profiles *profileStore) {
	var present []string
	for _, pname := range ep.hep.Spec.Profiles {
		if p := profiles.get(pname); p != nil && !slices.Contains(present, pname) {
			present = append(present, pname)
			if !slices.Contains(ep.profiles, pname) {
				x.profiles.addRef(pname, profileSource{p})
			}
		}
	}
	for _, pname := range ep.profiles {
		if !slices.Contains(present, pname) {
			x.profiles.removeRef(pname)
		}
	}
	ep.profiles = present
}

// onPolicy re-evaluates policy name (nil: absent) against every local
// endpoint and re-sends the endpoints whose policy lists may have changed.
func (x *endpointIndex) onPolicy(name string, p *policy) {
	for epName, ep := range x.local {
		was := ep.matched[name] != nil
		is := p != nil && p.selects(ep.labels)
		switch {
		case is && !was:
			ep.matched[name] = p
			x.policies.addRef(name, p)
		case was && !is:
			delete(ep.matched, name)
			x.policies.removeRef(name)
		case is:
			ep.matched[name] = p // order or kind may have changed
		default:
			continue
		}
		x.seq.OnEndpointUpdate(ep.toProto(epName))
	}
}

// toProto renders the endpoint with its policies sorted into the lists the
// dataplane needs.
func (ep *localEndpoint) toProto(name string) *proto.HostEndpointUpdate {
	pols := make([]*policy, 0, len(ep.matched))
	for _, p := range ep.matched {
		pols = append(pols, p)
	}
	sort.Slice(pols, func(i, j int) bool { return pols[i].before(pols[j]) })
	u := &proto.HostEndpointUpdate{
		Name:          name,
		InterfaceName: ep.hep.Spec.InterfaceName,
		Untracked:     &proto.PolicyList{},
		PreDnat:       &proto.PolicyList{},
		Normal:        &proto.PolicyList{},
		Forward:       &proto.PolicyList{},
		Profiles:      slices.Clone(ep.profiles),
	}
	for _, s := range ep.hep.Spec.ExpectedIPs {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
		case a.Is4() || a.Is4In6():
			u.ExpectedIpv4 = append(u.ExpectedIpv4, a.Unmap().String())
		default:
			u.ExpectedIpv6 = append(u.ExpectedIpv6, a.String())
		}
	}
	for _, p := range pols {
		in, out := p.spec.AppliesTo(model.PolicyTypeIngress), p.spec.AppliesTo(model.PolicyTypeEgress)
		switch {
		case p.spec.DoNotTrack:
			addTo(u.Untracked, p.name, in, out)
		case p.spec.PreDNAT:
			addTo(u.PreDnat, p.name, in, false)
		default:
			addTo(u.Normal, p.name, in, out)
			if p.spec.ApplyOnForward {
				addTo(u.Forward, p.name, in, out)
			}
		}
	}
	return u
}

func addTo(l *proto.PolicyList, name string, in, out bool) {
	if in {
		l.Ingress = append(l.Ingress, name)
	}
	if out {
		l.Egress = append(l.Egress, name)
	}
}
