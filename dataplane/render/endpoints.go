package render

import (
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// untrackedEndpoint renders a host endpoint's untracked chain for one
// direction: each untracked policy in order; an Allow accepts (after
// notrack) inside the policy chain, a Deny drops; a Pass ends the tier.
// Falling off the end leaves the packet to normal, tracked processing.
func (r *renderer) untrackedEndpoint(hep string, in bool, policies []string) *nft.Chain {
	c := &nft.Chain{Name: HEPUntrackedChain(hep, in)}
	if r.rs.Chains[c.Name] != nil {
		return r.rs.Chains[c.Name]
	}
	c.Rules = append(c.Rules, rule("", nft.ClearMarkBits{Bits: r.cfg.MarkPass}))
	for _, p := range policies {
		c.Rules = append(c.Rules, rule("policy "+p, jump(r.untrackedPolicy(p, in))))
		if hasPass(r.in.Policies[p], in) {
			c.Rules = append(c.Rules, rule("pass from policy "+p, markIs(r.cfg.MarkPass), ret))
		}
	}
	return r.rs.add(c)
}

// preDNATEndpoint renders a host endpoint's pre-DNAT chain: established
// traffic and failsafe ports pass, then each pre-DNAT policy in order. An
// Allow accepts (the packet goes on to DNAT and normal policy), a Deny
// drops; with no decision the packet goes on too (no default deny here).
func (r *renderer) preDNATEndpoint(hep string, policies []string) *nft.Chain {
	c := &nft.Chain{Name: HEPPreDNATChain(hep)}
	if r.rs.Chains[c.Name] != nil {
		return r.rs.Chains[c.Name]
	}
	c.Rules = append(c.Rules, r.conntrackRules()...)
	c.Rules = append(c.Rules, rule("", jump(ChainFailsafeIn)))
	c.Rules = append(c.Rules, r.clearMarks())
	for _, p := range policies {
		c.Rules = append(c.Rules,
			rule("policy "+p, jump(r.normalPolicy(p, true, PolicyPreDNATChain(p)))),
			rule("", markIs(r.cfg.MarkAccept), accept),
			rule("pass from policy "+p, markIs(r.cfg.MarkPass), ret))
	}
	return r.rs.add(c)
}

// hostEndpoint renders a host endpoint's chain for traffic to (in) or from
// the host: established traffic and failsafe ports pass, invalid packets
// drop, then the tier of normal policies (its own chain), then the
// endpoint's profiles, then default deny.
func (r *renderer) hostEndpoint(hep *proto.HostEndpointUpdate, in bool) *nft.Chain {
	c := &nft.Chain{Name: HEPChain(hep.Name, in)}
	if r.rs.Chains[c.Name] != nil {
		return r.rs.Chains[c.Name]
	}
	fs := ChainFailsafeOut
	if in {
		fs = ChainFailsafeIn
	}
	c.Rules = append(c.Rules, r.conntrackRules()...)
	c.Rules = append(c.Rules, rule("", jump(fs)), r.clearMarks())
	if policies := r.policies(hep.GetNormal(), in); len(policies) > 0 {
		tier := &nft.Chain{Name: HEPPolicyChain(hep.Name, in)}
		for _, p := range policies {
			tier.Rules = append(tier.Rules,
				rule("policy "+p, jump(r.normalPolicy(p, in, PolicyChain(p, in)))),
				rule("", markIs(r.cfg.MarkAccept), accept),
				rule("pass from policy "+p, markIs(r.cfg.MarkPass), ret))
		}
		tier.Rules = append(tier.Rules, rule("end of tier: no policy allowed the packet", nft.Counter{}, drop))
		r.rs.add(tier)
		c.Rules = append(c.Rules, rule("policies", jump(tier.Name)))
	}
	for _, p := range hep.GetProfiles() {
		if r.in.Profiles[p] == nil {
			continue
		}
		c.Rules = append(c.Rules,
			rule("profile "+p, jump(r.profile(p, in))),
			rule("", markIs(r.cfg.MarkAccept), accept))
	}
	c.Rules = append(c.Rules, rule("default deny: no policy or profile allowed the packet", nft.Counter{}, drop))
	return r.rs.add(c)
}

// forwardEndpoint renders a host endpoint's chain for forwarded traffic
// arriving on (in) or leaving by its interface: each applyOnForward policy
// in order; an Allow or a Pass returns to the forward chain (the other
// interface's endpoint may still decide), and a packet no policy allowed
// is dropped. Profiles do not apply to forwarded traffic.
func (r *renderer) forwardEndpoint(hep string, in bool, policies []string) *nft.Chain {
	c := &nft.Chain{Name: HEPForwardChain(hep, in)}
	if r.rs.Chains[c.Name] != nil {
		return r.rs.Chains[c.Name]
	}
	c.Rules = append(c.Rules, r.conntrackRules()...)
	c.Rules = append(c.Rules, r.clearMarks())
	for _, p := range policies {
		c.Rules = append(c.Rules,
			rule("policy "+p, jump(r.normalPolicy(p, in, PolicyChain(p, in)))),
			rule("", markIs(r.cfg.MarkAccept), ret),
			rule("pass from policy "+p, markIs(r.cfg.MarkPass), ret))
	}
	c.Rules = append(c.Rules, rule("end of tier: no policy allowed the packet", nft.Counter{}, drop))
	return r.rs.add(c)
}

// conntrackRules make normal and pre-DNAT policy stateful: packets of
// connections already allowed pass, invalid packets drop.
func (r *renderer) conntrackRules() []nft.Rule {
	return []nft.Rule{
		rule("", nft.CTStateIn{States: nft.CTEstablished | nft.CTRelated}, accept),
		rule("", nft.CTStateIn{States: nft.CTInvalid}, drop),
	}
}

func (r *renderer) clearMarks() nft.Rule {
	return rule("", nft.ClearMarkBits{Bits: r.cfg.MarkAccept | r.cfg.MarkPass})
}

func hasPass(p *proto.Policy, in bool) bool {
	rules := p.GetOutboundRules()
	if in {
		rules = p.GetInboundRules()
	}
	for _, r := range rules {
		if r.Action == proto.Action_ACTION_PASS {
			return true
		}
	}
	return false
}
