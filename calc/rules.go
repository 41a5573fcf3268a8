package calc

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
	"github.com/untrackd/untrackd/proto"
)

// resolvePolicy turns a policy's rules into proto rules. Only the
// directions in the policy's types are resolved. Rules that can never match
// a packet of a host endpoint (they select Kubernetes workloads, services or
// service accounts) are left out and listed in skipped.
func resolvePolicy(name string, spec *model.GlobalNetworkPolicySpec) *resolvedPolicy {
	r := &resolvedPolicy{msg: &proto.Policy{
		Untracked:      spec.DoNotTrack,
		PreDnat:        spec.PreDNAT,
		ApplyOnForward: spec.ApplyOnForward,
	}}
	if spec.AppliesTo(model.PolicyTypeIngress) {
		r.msg.InboundRules = r.resolveRules(name, "ingress", spec.Ingress)
	}
	if spec.AppliesTo(model.PolicyTypeEgress) {
		r.msg.OutboundRules = r.resolveRules(name, "egress", spec.Egress)
	}
	return r
}

func (r *resolvedPolicy) resolveRules(policy, dir string, rules []model.Rule) []*proto.Rule {
	var out []*proto.Rule
	for i := range rules {
		origin := fmt.Sprintf("%s %s %d", policy, dir, i)
		pr, ok := r.resolveRule(&rules[i])
		if !ok {
			r.skipped = append(r.skipped, origin)
			continue
		}
		pr.Origin = origin
		out = append(out, pr)
	}
	return out
}

var actions = map[model.Action]proto.Action{
	model.Allow: proto.Action_ACTION_ALLOW,
	model.Deny:  proto.Action_ACTION_DENY,
	model.Log:   proto.Action_ACTION_LOG,
	model.Pass:  proto.Action_ACTION_PASS,
}

// resolveRule converts one validated rule. It returns false for a rule that
// can never match a host endpoint's packet.
func (r *resolvedPolicy) resolveRule(m *model.Rule) (*proto.Rule, bool) {
	if workloadOnly(&m.Source) || workloadOnly(&m.Destination) || hasNamedPorts(m) {
		return nil, false
	}
	pr := &proto.Rule{Action: actions[m.Action], RuleId: ruleID(m)}
	if m.IPVersion != nil {
		pr.IpVersion = uint32(*m.IPVersion)
	}
	if m.Protocol != nil {
		n, _ := m.Protocol.Number()
		pr.Protocol = ptr(uint32(n))
	}
	if m.NotProtocol != nil {
		n, _ := m.NotProtocol.Number()
		pr.NotProtocol = ptr(uint32(n))
	}
	if f := m.ICMP; f != nil {
		pr.IcmpType, pr.IcmpCode = optInt(f.Type), optInt(f.Code)
	}
	if f := m.NotICMP; f != nil {
		pr.NotIcmpType, pr.NotIcmpCode = optInt(f.Type), optInt(f.Code)
	}
	pr.SrcNets, pr.NotSrcNets = nets(m.Source.Nets), nets(m.Source.NotNets)
	pr.DstNets, pr.NotDstNets = nets(m.Destination.Nets), nets(m.Destination.NotNets)
	pr.SrcPorts, pr.NotSrcPorts = ports(m.Source.Ports), ports(m.Source.NotPorts)
	pr.DstPorts, pr.NotDstPorts = ports(m.Destination.Ports), ports(m.Destination.NotPorts)
	pr.SrcIpSetIds = r.ipSet(entitySelector(&m.Source))
	pr.NotSrcIpSetIds = r.ipSet(m.Source.NotSelector)
	pr.DstIpSetIds = r.ipSet(entitySelector(&m.Destination))
	pr.NotDstIpSetIds = r.ipSet(m.Destination.NotSelector)
	return pr, true
}

// workloadOnly reports whether an entity rule can only match Kubernetes
// workloads: a namespaceSelector other than global(), services or service
// accounts. Nothing untrackd enforces is such an entity.
func workloadOnly(e *model.EntityRule) bool {
	if e.Services != nil || e.ServiceAccounts != nil {
		return true
	}
	return e.NamespaceSelector != "" && !isGlobal(e.NamespaceSelector)
}

func isGlobal(s string) bool {
	sel, err := selector.Parse(s)
	return err == nil && sel.String() == "global()"
}

// entitySelector returns the selector an entity rule matches endpoints by:
// its selector, or all() when only namespaceSelector global() is given
// (every host endpoint and network set), or "" for none.
func entitySelector(e *model.EntityRule) string {
	if e.Selector == "" && e.NamespaceSelector != "" {
		return "all()"
	}
	return e.Selector
}

// hasNamedPorts reports whether the rule uses named ports, which untrackd
// does not resolve yet.
func hasNamedPorts(m *model.Rule) bool {
	for _, l := range [][]model.Port{m.Source.Ports, m.Source.NotPorts, m.Destination.Ports, m.Destination.NotPorts} {
		for _, p := range l {
			if p.IsNamed() {
				return true
			}
		}
	}
	return false
}

// ipSet references the IP set of selector s and returns its id as a
// one-element list, or nil for "".
func (r *resolvedPolicy) ipSet(s string) []string {
	if s == "" {
		return nil
	}
	sel, err := selector.Parse(s)
	if err != nil { // validated by the datastore
		sel = selector.MustParse("!all()")
	}
	r.ipsets = append(r.ipsets, sel)
	return []string{sel.UniqueID()}
}

func nets(in []string) []string {
	var out []string
	for _, s := range in {
		if p, err := model.ParseNet(s); err == nil {
			out = append(out, p.String())
		}
	}
	return out
}

func ports(in []model.Port) []*proto.PortRange {
	var out []*proto.PortRange
	for _, p := range in {
		out = append(out, &proto.PortRange{First: uint32(p.MinPort), Last: uint32(p.MaxPort)})
	}
	return out
}

func optInt(p *int) *uint32 {
	if p == nil {
		return nil
	}
	return ptr(uint32(*p))
}

func ptr[T any](v T) *T { return &v }

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ruleID is a short stable digest of the rule as written.
func ruleID(m *model.Rule) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return idEncoding.EncodeToString(sum[:])[:16]
}
