package render

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// Config holds the choices that shape rendering but come from untrackd's
// own configuration rather than the datastore.
type Config struct {
	// MarkAllow is the packet-mark bit set on packets untracked policy
	// allowed; later stages accept packets carrying it.
	MarkAllow uint32
	// MarkPass is the bit a Pass rule sets to end its tier.
	MarkPass uint32
	// LogPrefix starts the prefix of Log rules.
	LogPrefix string
}

// DefaultConfig returns the default marks (bits 28 and 29, outside the
// ranges kube-proxy and Calico use by default) and log prefix.
func DefaultConfig() Config {
	return Config{MarkAllow: 0x10000000, MarkPass: 0x20000000, LogPrefix: "untrackd"}
}

// Input is the desired dataplane state, as the calculation graph sent it.
type Input struct {
	Config    *proto.ConfigUpdate                  // failsafe ports; nil = none
	Endpoints map[string]*proto.HostEndpointUpdate // local host endpoints by name
	Policies  map[string]*proto.Policy             // active policies by name
	IPSets    map[string]bool                      // ids of the IP sets that exist
}

// Ruleset is the desired content of untrackd's table, except set elements
// (see Intervals): chains by name, and sets by name.
type Ruleset struct {
	Chains map[string]*nft.Chain
	Sets   map[string]nft.Set
}

// Render computes the desired table for in. It never fails: references to
// policies or IP sets that in does not hold are left out (the calculation
// graph's ordering makes that impossible in practice).
func Render(cfg Config, in Input) *Ruleset {
	rs := &Ruleset{Chains: map[string]*nft.Chain{}, Sets: map[string]nft.Set{}}
	for id := range in.IPSets {
		for _, f := range []nft.Family{nft.IPv4, nft.IPv6} {
			n := SetName(id, f)
			rs.Sets[n] = nft.Set{Name: n, Type: SetType(f)}
		}
	}
	ifaces := interfaceOwners(in.Endpoints)

	rawPre := baseChain(ChainRawPrerouting, nft.HookPrerouting, nft.PriorityRaw)
	rawPre.Rules = append(rawPre.Rules, failsafeRules(in.Config, true)...)
	rawOut := baseChain(ChainRawOutput, nft.HookOutput, nft.PriorityRaw)
	rawOut.Rules = append(rawOut.Rules, failsafeRules(in.Config, false)...)

	for _, iface := range slices.Sorted(maps.Keys(ifaces)) {
		hepName := ifaces[iface]
		hep := in.Endpoints[hepName]
		for _, dir := range []bool{true, false} {
			names := hep.GetUntracked().GetEgress()
			base := rawOut
			if dir {
				names = hep.GetUntracked().GetIngress()
				base = rawPre
			}
			names = present(names, in.Policies)
			if len(names) == 0 {
				continue
			}
			hc := hepUntrackedChain(cfg, hepName, dir, names, in.Policies)
			rs.Chains[hc.Name] = hc
			base.Rules = append(base.Rules, nft.Rule{
				Exprs:   []nft.Expr{nft.IfName{Out: !dir, Name: iface}, nft.Verdict{Kind: nft.Goto, Chain: hc.Name}},
				Comment: "host endpoint " + hepName,
			})
			for _, p := range names {
				if rs.Chains[PolicyUntrackedChain(p, dir)] == nil {
					pc := policyUntrackedChain(cfg, p, dir, in.Policies[p], in.IPSets)
					rs.Chains[pc.Name] = pc
				}
			}
		}
	}
	rs.Chains[rawPre.Name] = rawPre
	rs.Chains[rawOut.Name] = rawOut
	for _, c := range []struct {
		name string
		hook nft.Hook
	}{{ChainFilterInput, nft.HookInput}, {ChainFilterForward, nft.HookForward}, {ChainFilterOutput, nft.HookOutput}} {
		fc := baseChain(c.name, c.hook, nft.PriorityFilter)
		fc.Rules = []nft.Rule{{
			Exprs:   []nft.Expr{nft.Mark{Mask: cfg.MarkAllow, Value: cfg.MarkAllow}, nft.Verdict{Kind: nft.Accept}},
			Comment: "allowed by untracked policy",
		}}
		rs.Chains[fc.Name] = fc
	}
	return rs
}

func baseChain(name string, hook nft.Hook, prio int32) *nft.Chain {
	return &nft.Chain{Name: name, Base: &nft.BaseChain{Hook: hook, Priority: prio, Policy: nft.PolicyAccept}}
}

// interfaceOwners maps each named interface to the host endpoint that
// governs it. Calico allows one host endpoint per interface; if several
// claim one, the first by name wins, deterministically.
func interfaceOwners(eps map[string]*proto.HostEndpointUpdate) map[string]string {
	owners := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		iface := eps[name].GetInterfaceName()
		if iface == "" || iface == "*" {
			continue
		}
		if _, taken := owners[iface]; !taken {
			owners[iface] = name
		}
	}
	return owners
}

func present(names []string, policies map[string]*proto.Policy) []string {
	var out []string
	for _, n := range names {
		if policies[n] != nil {
			out = append(out, n)
		}
	}
	return out
}

// hepUntrackedChain jumps to each policy's chain in order; after a policy
// with Pass rules it returns if the pass mark was set, ending untracked
// evaluation for the packet (which is then tracked as usual).
func hepUntrackedChain(cfg Config, hep string, in bool, policies []string, all map[string]*proto.Policy) *nft.Chain {
	c := &nft.Chain{Name: HEPUntrackedChain(hep, in)}
	c.Rules = append(c.Rules, nft.Rule{Exprs: []nft.Expr{nft.ClearMarkBits{Bits: cfg.MarkPass}}})
	for _, p := range policies {
		c.Rules = append(c.Rules, nft.Rule{
			Exprs:   []nft.Expr{nft.Verdict{Kind: nft.Jump, Chain: PolicyUntrackedChain(p, in)}},
			Comment: "policy " + p,
		})
		if hasPass(all[p], in) {
			c.Rules = append(c.Rules, nft.Rule{
				Exprs:   []nft.Expr{nft.Mark{Mask: cfg.MarkPass, Value: cfg.MarkPass}, nft.Verdict{Kind: nft.Return}},
				Comment: "pass from policy " + p,
			})
		}
	}
	return c
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

func policyUntrackedChain(cfg Config, name string, in bool, p *proto.Policy, ipsets map[string]bool) *nft.Chain {
	c := &nft.Chain{Name: PolicyUntrackedChain(name, in)}
	rules := p.GetOutboundRules()
	if in {
		rules = p.GetInboundRules()
	}
	for _, r := range rules {
		c.Rules = append(c.Rules, renderRule(cfg, r, untrackedAction(cfg, r, name), ipsets)...)
	}
	return c
}

// untrackedAction returns the statements and verdict of a rule in an
// untracked policy.
func untrackedAction(cfg Config, r *proto.Rule, policy string) []nft.Expr {
	switch r.Action {
	case proto.Action_ACTION_ALLOW:
		return []nft.Expr{nft.SetMarkBits{Bits: cfg.MarkAllow}, nft.Notrack{}, nft.Verdict{Kind: nft.Accept}}
	case proto.Action_ACTION_DENY:
		return []nft.Expr{nft.Verdict{Kind: nft.Drop}}
	case proto.Action_ACTION_LOG:
		return []nft.Expr{nft.Log{Prefix: logPrefix(cfg, policy)}}
	case proto.Action_ACTION_PASS:
		return []nft.Expr{nft.SetMarkBits{Bits: cfg.MarkPass}, nft.Verdict{Kind: nft.Return}}
	}
	return nil
}

// logPrefix is the prefix of a Log rule's messages: the configured prefix and
// the policy name, within the kernel's 127-byte limit.
func logPrefix(cfg Config, policy string) string {
	p := cfg.LogPrefix + " " + policy + ": "
	if len(p) > 127 {
		p = p[:127]
	}
	return p
}
