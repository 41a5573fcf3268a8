package render

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// Render computes the desired table for in. It never fails: references to
// policies, profiles or IP sets that in does not hold are left out (the
// calculation graph's ordering makes that impossible in practice).
func Render(cfg Config, in Input) *Ruleset { return RenderCached(cfg, in, nil) }

// RenderCached is Render with a cache of policy and profile chains from
// earlier calls (nil: none), so that an update re-renders only the chains
// of the messages that changed. The result is the same as Render's.
func RenderCached(cfg Config, in Input, cache *Cache) *Ruleset {
	rs := &Ruleset{Chains: map[string]*nft.Chain{}, Sets: map[string]nft.Set{}}
	for id, t := range in.IPSets {
		for _, f := range []nft.Family{nft.IPv4, nft.IPv6} {
			n := SetName(id, t, f)
			rs.Sets[n] = nft.Set{Name: n, Type: SetType(t, f)}
		}
	}
	r := &renderer{cfg: cfg, in: in, rs: rs, bound: bindings(in), cache: cache}
	r.failsafe()
	r.raw()
	r.preDNAT()
	r.filter()
	portSets(rs)
	cache.sweep(rs)
	return rs
}

type renderer struct {
	cfg   Config
	in    Input
	rs    *Ruleset
	bound []binding
	cache *Cache
}

// binding is a host endpoint enforced on an interface; iface "" means every
// interface but loopback (a host endpoint with interfaceName "*").
type binding struct {
	iface string
	hep   *proto.HostEndpointUpdate
}

// bindings decides which host endpoint governs which interface, as
// Calico's one endpoint per interface: endpoints naming an interface first
// (the first by endpoint name wins a contested interface), then endpoints
// that give only expectedIPs, bound to every unclaimed interface holding
// one of those addresses, then the first "*" endpoint for all other
// interfaces except loopback. Named bindings come out sorted by interface.
func bindings(in Input) []binding {
	owner := map[string]*proto.HostEndpointUpdate{}
	var wildcard *proto.HostEndpointUpdate
	names := slices.Sorted(maps.Keys(in.Endpoints))
	for _, name := range names {
		e := in.Endpoints[name]
		switch iface := e.GetInterfaceName(); iface {
		case "":
		case "*":
			if wildcard == nil {
				wildcard = e
			}
		default:
			if owner[iface] == nil {
				owner[iface] = e
			}
		}
	}
	for _, name := range names {
		e := in.Endpoints[name]
		if e.GetInterfaceName() != "" {
			continue
		}
		want := map[string]bool{}
		for _, a := range append(slices.Clone(e.ExpectedIpv4), e.ExpectedIpv6...) {
			want[a] = true
		}
		for _, iface := range slices.Sorted(maps.Keys(in.Interfaces)) {
			if owner[iface] != nil || iface == "lo" {
				continue
			}
			for _, a := range in.Interfaces[iface] {
				if want[a.String()] {
					owner[iface] = e
					break
				}
			}
		}
	}
	var out []binding
	for _, iface := range slices.Sorted(maps.Keys(owner)) {
		out = append(out, binding{iface: iface, hep: owner[iface]})
	}
	if wildcard != nil {
		out = append(out, binding{hep: wildcard})
	}
	return out
}

// ifMatch matches packets of the binding's interface: arriving on it (in)
// or leaving by it.
func (b binding) ifMatch(in bool) nft.IfName {
	if b.iface == "" {
		return nft.IfName{Out: !in, Name: "lo", Neg: true}
	}
	return nft.IfName{Out: !in, Name: b.iface}
}

// dispatch appends to base, for every binding, a rule sending the
// binding's packets to the chain chainFor returns. When a wildcard binding
// has a chain, a binding without one gets a rule ending evaluation with skip
// instead, so the wildcard endpoint never governs another endpoint's
// interface. It returns whether any rule sends packets to a chain.
func (r *renderer) dispatch(base *nft.Chain, in bool, verdict func(chain string) nft.Verdict, skip nft.Verdict, chainFor func(b binding) string) bool {
	chains := make([]string, len(r.bound))
	wildcard, added := false, false
	for i, b := range r.bound {
		chains[i] = chainFor(b)
		if chains[i] != "" {
			added = true
			wildcard = wildcard || b.iface == ""
		}
	}
	for i, b := range r.bound {
		switch {
		case chains[i] != "":
			base.Rules = append(base.Rules, rule("host endpoint "+b.hep.Name, b.ifMatch(in), verdict(chains[i])))
		case wildcard && b.iface != "":
			base.Rules = append(base.Rules, rule("host endpoint "+b.hep.Name, b.ifMatch(in), skip))
		}
	}
	return added
}

// raw renders the raw-priority chains: failsafe, then untracked policy.
func (r *renderer) raw() {
	for _, in := range []bool{true, false} {
		var base *nft.Chain
		if in {
			base = r.rs.add(baseChain(ChainRawPrerouting, nft.HookPrerouting, nft.PriorityRaw))
			base.Rules = append(base.Rules, rule("", jump(ChainFailsafeRawIn)))
		} else {
			base = r.rs.add(baseChain(ChainRawOutput, nft.HookOutput, nft.PriorityRaw))
			base.Rules = append(base.Rules, rule("", jump(ChainFailsafeRawOut)))
		}
		r.dispatch(base, in, gotoC, accept, func(b binding) string {
			names := r.policies(b.hep.GetUntracked(), in)
			if len(names) == 0 {
				return ""
			}
			return r.untrackedEndpoint(b.hep.Name, in, names).Name
		})
	}
}

// preDNAT renders the mangle-priority prerouting chain: pre-DNAT policy,
// before DNAT, for packets untracked policy did not allow.
func (r *renderer) preDNAT() {
	base := r.rs.add(baseChain(ChainManglePrerouting, nft.HookPrerouting, nft.PriorityMangle))
	base.Rules = append(base.Rules, rule("allowed by untracked policy", markIs(r.cfg.MarkAllow), accept))
	r.dispatch(base, true, gotoC, accept, func(b binding) string {
		names := r.policies(b.hep.GetPreDnat(), true)
		if len(names) == 0 {
			return ""
		}
		return r.preDNATEndpoint(b.hep.Name, names).Name
	})
}

// filter renders the filter-priority chains: normal policy, profiles and
// default deny for traffic to and from the host, and applyOnForward policy
// for forwarded traffic.
func (r *renderer) filter() {
	for _, in := range []bool{true, false} {
		var base *nft.Chain
		if in {
			base = r.rs.add(baseChain(ChainFilterInput, nft.HookInput, nft.PriorityFilter))
		} else {
			base = r.rs.add(baseChain(ChainFilterOutput, nft.HookOutput, nft.PriorityFilter))
		}
		base.Rules = append(base.Rules, rule("allowed by untracked policy", markIs(r.cfg.MarkAllow), accept))
		r.dispatch(base, in, gotoC, accept, func(b binding) string {
			return r.hostEndpoint(b.hep, in).Name
		})
	}
	fwd := r.rs.add(baseChain(ChainFilterForward, nft.HookForward, nft.PriorityFilter))
	fwd.Rules = append(fwd.Rules, rule("allowed by untracked policy", markIs(r.cfg.MarkAllow), accept))
	for _, in := range []bool{true, false} {
		d := &nft.Chain{Name: "fwd-dispatch-" + dirName(in)}
		if r.dispatch(d, in, gotoC, ret, func(b binding) string {
			names := r.policies(b.hep.GetForward(), in)
			if len(names) == 0 {
				return ""
			}
			return r.forwardEndpoint(b.hep.Name, in, names).Name
		}) {
			r.rs.add(d)
			fwd.Rules = append(fwd.Rules, rule("", jump(d.Name)))
		}
	}
}

// policies returns the names in the list's ingress (in) or egress
// direction whose policies exist.
func (r *renderer) policies(l *proto.PolicyList, in bool) []string {
	names := l.GetEgress()
	if in {
		names = l.GetIngress()
	}
	var out []string
	for _, n := range names {
		if r.in.Policies[n] != nil {
			out = append(out, n)
		}
	}
	return out
}
