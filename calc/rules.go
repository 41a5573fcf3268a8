package calc

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
	"github.com/untrackd/untrackd/proto"
)

// resolve implements ruleSource for a policy. Only the directions in the
// policy's types are resolved.
func (p *policy) resolve(name string) *resolved {
	r := &resolved{}
	msg := &proto.Policy{Untracked: p.spec.DoNotTrack, PreDnat: p.spec.PreDNAT, ApplyOnForward: p.spec.ApplyOnForward}
	if p.spec.AppliesTo(model.PolicyTypeIngress) {
		msg.InboundRules = r.resolveRules(name, "ingress", p.spec.Ingress)
	}
	if p.spec.AppliesTo(model.PolicyTypeEgress) {
		msg.OutboundRules = r.resolveRules(name, "egress", p.spec.Egress)
	}
	r.msg = msg
	return r
}

// profileSource is a Profile as a ruleSource.
type profileSource struct{ p *model.Profile }

// resolve implements ruleSource for a profile: both directions.
func (s profileSource) resolve(name string) *resolved {
	r := &resolved{}
	r.msg = &proto.Profile{
		InboundRules:  r.resolveRules("profile "+name, "ingress", s.p.Spec.Ingress),
		OutboundRules: r.resolveRules("profile "+name, "egress", s.p.Spec.Egress),
	}
	return r
}

// resolveRules converts rules, leaving out (and listing in r.skipped) the
// ones that can never match a packet of a host endpoint because they select
// Kubernetes workloads, services or service accounts.
func (r *resolved) resolveRules(owner, dir string, rules []model.Rule) []*proto.Rule {
	var out []*proto.Rule
	for i := range rules {
		origin := fmt.Sprintf("%s %s %d", owner, dir, i)
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
func (r *resolved) resolveRule(m *model.Rule) (*proto.Rule, bool) {
	if workloadOnly(&m.Source) || workloadOnly(&m.Destination) {
		return nil, false
	}
	pr := &proto.Rule{Action: actions[m.Action], RuleId: ruleID(m)}
	if m.IPVersion != nil {
		pr.IpVersion = uint32(*m.IPVersion)
	}
	var l4 uint8
	if m.Protocol != nil {
		l4, _ = m.Protocol.Number()
		pr.Protocol = ptr(uint32(l4))
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
	src, dst := &m.Source, &m.Destination
	pr.SrcNets, pr.NotSrcNets = nets(src.Nets), nets(src.NotNets)
	pr.DstNets, pr.NotDstNets = nets(dst.Nets), nets(dst.NotNets)
	pr.SrcPorts, pr.NotSrcPorts = numericPorts(src.Ports), numericPorts(src.NotPorts)
	pr.DstPorts, pr.NotDstPorts = numericPorts(dst.Ports), numericPorts(dst.NotPorts)
	pr.SrcIpSetIds = r.ipSet(entitySelector(src), nil)
	pr.NotSrcIpSetIds = r.ipSet(src.NotSelector, nil)
	pr.DstIpSetIds = r.ipSet(entitySelector(dst), nil)
	pr.NotDstIpSetIds = r.ipSet(dst.NotSelector, nil)
	pr.SrcNamedPortIpSetIds = r.namedPorts(src, src.Ports, l4)
	pr.NotSrcNamedPortIpSetIds = r.namedPorts(src, src.NotPorts, l4)
	pr.DstNamedPortIpSetIds = r.namedPorts(dst, dst.Ports, l4)
	pr.NotDstNamedPortIpSetIds = r.namedPorts(dst, dst.NotPorts, l4)
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

func parseSelector(s string) *selector.Selector {
	sel, err := selector.Parse(s)
	if err != nil { // validated by the datastore; never match on a bad one
		return selector.MustParse("!all()")
	}
	return sel
}

// ipSet references the IP set of selector s (a set of networks when port is
// nil) and returns its id as a one-element list, or nil for "".
func (r *resolved) ipSet(s string, port *namedPort) []string {
	if s == "" {
		return nil
	}
	spec := ipSetSpec{sel: parseSelector(s), port: port}
	r.ipsets = append(r.ipsets, spec)
	return []string{spec.id()}
}

// namedPorts references one named-port IP set per named port in ports: the
// (address, protocol, port) of that named port on the endpoints the entity
// selects (every endpoint when it has no selector), as Felix resolves them.
func (r *resolved) namedPorts(e *model.EntityRule, ports []model.Port, proto uint8) []string {
	var ids []string
	for _, p := range ports {
		if !p.IsNamed() {
			continue
		}
		sel := entitySelector(e)
		if sel == "" {
			sel = "all()"
		}
		ids = append(ids, r.ipSet(sel, &namedPort{name: p.PortName, proto: proto})...)
	}
	return ids
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

// numericPorts returns the port numbers and ranges of in (named ports are
// resolved separately).
func numericPorts(in []model.Port) []*proto.PortRange {
	var out []*proto.PortRange
	for _, p := range in {
		if !p.IsNamed() {
			out = append(out, &proto.PortRange{First: uint32(p.MinPort), Last: uint32(p.MaxPort)})
		}
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

// ruleID is a short stable digest of the rule as written.
func ruleID(m *model.Rule) string {
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return idEncoding.EncodeToString(sum[:])[:16]
}
