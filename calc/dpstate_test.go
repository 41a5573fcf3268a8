package calc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/untrackd/untrackd/proto"
)

// dpState is a model of what the dataplane knows, built by applying the
// graph's output. apply enforces the Sequencer's ordering contract: nothing
// is referenced before it exists and nothing is removed while referenced.
type dpState struct {
	config   *proto.ConfigUpdate
	ipsets   map[string]map[string]bool
	policies map[string]*proto.Policy
	profiles map[string]*proto.Profile
	types    map[string]proto.IPSetType
	heps     map[string]*proto.HostEndpointUpdate
	inSync   bool
}

func newDPState() *dpState {
	return &dpState{ipsets: map[string]map[string]bool{}, policies: map[string]*proto.Policy{}, profiles: map[string]*proto.Profile{},
		types: map[string]proto.IPSetType{}, heps: map[string]*proto.HostEndpointUpdate{}}
}

func rulesIPSets(rules ...[]*proto.Rule) []string {
	var ids []string
	for _, rs := range rules {
		for _, r := range rs {
			ids = append(ids, r.SrcIpSetIds...)
			ids = append(ids, r.NotSrcIpSetIds...)
			ids = append(ids, r.DstIpSetIds...)
			ids = append(ids, r.NotDstIpSetIds...)
			ids = append(ids, r.SrcNamedPortIpSetIds...)
			ids = append(ids, r.NotSrcNamedPortIpSetIds...)
			ids = append(ids, r.DstNamedPortIpSetIds...)
			ids = append(ids, r.NotDstNamedPortIpSetIds...)
		}
	}
	return ids
}

func policyIPSets(p *proto.Policy) []string { return rulesIPSets(p.InboundRules, p.OutboundRules) }

func profileIPSets(p *proto.Profile) []string { return rulesIPSets(p.InboundRules, p.OutboundRules) }

func hepPolicies(h *proto.HostEndpointUpdate) []string {
	var names []string
	for _, l := range []*proto.PolicyList{h.Untracked, h.PreDnat, h.Normal, h.Forward} {
		names = append(names, l.GetIngress()...)
		names = append(names, l.GetEgress()...)
	}
	return names
}

func (d *dpState) apply(msgs []*proto.ToDataplane) error {
	for _, m := range msgs {
		if err := d.applyOne(m); err != nil {
			return fmt.Errorf("%v: %w", m, err)
		}
	}
	return nil
}

func (d *dpState) applyOne(m *proto.ToDataplane) error {
	switch p := m.Payload.(type) {
	case *proto.ToDataplane_InSync:
		if d.inSync {
			return fmt.Errorf("second InSync")
		}
		d.inSync = true
	case *proto.ToDataplane_ConfigUpdate:
		d.config = p.ConfigUpdate
	case *proto.ToDataplane_IpsetUpdate:
		s := map[string]bool{}
		for _, mem := range p.IpsetUpdate.Members {
			s[mem] = true
		}
		d.ipsets[p.IpsetUpdate.Id] = s
		d.types[p.IpsetUpdate.Id] = p.IpsetUpdate.Type
	case *proto.ToDataplane_IpsetDeltaUpdate:
		s := d.ipsets[p.IpsetDeltaUpdate.Id]
		if s == nil {
			return fmt.Errorf("delta for unknown set")
		}
		for _, mem := range p.IpsetDeltaUpdate.Removed {
			if !s[mem] {
				return fmt.Errorf("removing absent member %s", mem)
			}
			delete(s, mem)
		}
		for _, mem := range p.IpsetDeltaUpdate.Added {
			if s[mem] {
				return fmt.Errorf("adding present member %s", mem)
			}
			s[mem] = true
		}
	case *proto.ToDataplane_IpsetRemove:
		id := p.IpsetRemove.Id
		if d.ipsets[id] == nil {
			return fmt.Errorf("removing unknown set")
		}
		for name, pol := range d.policies {
			for _, ref := range policyIPSets(pol) {
				if ref == id {
					return fmt.Errorf("set still used by policy %s", name)
				}
			}
		}
		for name, pro := range d.profiles {
			for _, ref := range profileIPSets(pro) {
				if ref == id {
					return fmt.Errorf("set still used by profile %s", name)
				}
			}
		}
		delete(d.ipsets, id)
		delete(d.types, id)
	case *proto.ToDataplane_ActivePolicyUpdate:
		for _, ref := range policyIPSets(p.ActivePolicyUpdate.Policy) {
			if d.ipsets[ref] == nil {
				return fmt.Errorf("policy uses unknown set %s", ref)
			}
		}
		d.policies[p.ActivePolicyUpdate.Name] = p.ActivePolicyUpdate.Policy
	case *proto.ToDataplane_ActivePolicyRemove:
		name := p.ActivePolicyRemove.Name
		if d.policies[name] == nil {
			return fmt.Errorf("removing unknown policy")
		}
		for hn, h := range d.heps {
			for _, ref := range hepPolicies(h) {
				if ref == name {
					return fmt.Errorf("policy still used by endpoint %s", hn)
				}
			}
		}
		delete(d.policies, name)
	case *proto.ToDataplane_ActiveProfileUpdate:
		for _, ref := range profileIPSets(p.ActiveProfileUpdate.Profile) {
			if d.ipsets[ref] == nil {
				return fmt.Errorf("profile uses unknown set %s", ref)
			}
		}
		d.profiles[p.ActiveProfileUpdate.Name] = p.ActiveProfileUpdate.Profile
	case *proto.ToDataplane_ActiveProfileRemove:
		name := p.ActiveProfileRemove.Name
		if d.profiles[name] == nil {
			return fmt.Errorf("removing unknown profile")
		}
		for hn, h := range d.heps {
			for _, ref := range h.Profiles {
				if ref == name {
					return fmt.Errorf("profile still used by endpoint %s", hn)
				}
			}
		}
		delete(d.profiles, name)
	case *proto.ToDataplane_HostEndpointUpdate:
		for _, ref := range hepPolicies(p.HostEndpointUpdate) {
			if d.policies[ref] == nil {
				return fmt.Errorf("endpoint uses unknown policy %s", ref)
			}
		}
		for _, ref := range p.HostEndpointUpdate.Profiles {
			if d.profiles[ref] == nil {
				return fmt.Errorf("endpoint uses unknown profile %s", ref)
			}
		}
		d.heps[p.HostEndpointUpdate.Name] = p.HostEndpointUpdate
	case *proto.ToDataplane_HostEndpointRemove:
		if d.heps[p.HostEndpointRemove.Name] == nil {
			return fmt.Errorf("removing unknown endpoint")
		}
		delete(d.heps, p.HostEndpointRemove.Name)
	default:
		return fmt.Errorf("unknown message")
	}
	return nil
}

// summary renders the state as sorted text lines, for comparisons. IP set
// ids are replaced by the selectors' canonical text via names.
func (d *dpState) summary(names map[string]string) string {
	var lines []string
	name := func(id string) string {
		if n, ok := names[id]; ok {
			return "set(" + n + ")"
		}
		return "set#" + id
	}
	for id, s := range d.ipsets {
		var ms []string
		for m := range s {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		kind := "ipset"
		if d.types[id] == proto.IPSetType_IP_SET_NAMED_PORTS {
			kind = "namedports"
		}
		lines = append(lines, fmt.Sprintf("%s %s = [%s]", kind, name(id), strings.Join(ms, " ")))
	}
	for n, p := range d.policies {
		lines = append(lines, fmt.Sprintf("policy %s untracked=%v prednat=%v fwd=%v", n, p.Untracked, p.PreDnat, p.ApplyOnForward))
		for dir, rules := range map[string][]*proto.Rule{"in": p.InboundRules, "out": p.OutboundRules} {
			for _, r := range rules {
				lines = append(lines, fmt.Sprintf("policy %s %s %s", n, dir, ruleSummary(r, name)))
			}
		}
	}
	for n, p := range d.profiles {
		for dir, rules := range map[string][]*proto.Rule{"in": p.InboundRules, "out": p.OutboundRules} {
			for _, r := range rules {
				lines = append(lines, fmt.Sprintf("profile %s %s %s", n, dir, ruleSummary(r, name)))
			}
		}
	}
	for n, h := range d.heps {
		line := fmt.Sprintf("hep %s iface=%q v4=%v v6=%v untracked=%v/%v prednat=%v normal=%v/%v forward=%v/%v",
			n, h.InterfaceName, h.ExpectedIpv4, h.ExpectedIpv6,
			h.Untracked.GetIngress(), h.Untracked.GetEgress(), h.PreDnat.GetIngress(),
			h.Normal.GetIngress(), h.Normal.GetEgress(), h.Forward.GetIngress(), h.Forward.GetEgress())
		if len(h.Profiles) > 0 {
			line += fmt.Sprintf(" profiles=%v", h.Profiles)
		}
		lines = append(lines, line)
	}
	if d.config != nil {
		line := fmt.Sprintf("config in=%s out=%s", fmtPorts(d.config.FailsafeInbound), fmtPorts(d.config.FailsafeOutbound))
		if d.config.LogSeverity != "" {
			line += " log=" + d.config.LogSeverity
		}
		lines = append(lines, line)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func ruleSummary(r *proto.Rule, name func(string) string) string {
	parts := []string{r.Action.String()}
	if r.Protocol != nil {
		parts = append(parts, fmt.Sprintf("proto=%d", *r.Protocol))
	}
	ids := func(k string, l []string) {
		for _, id := range l {
			parts = append(parts, k+"="+name(id))
		}
	}
	ids("src", r.SrcIpSetIds)
	ids("!src", r.NotSrcIpSetIds)
	ids("dst", r.DstIpSetIds)
	ids("!dst", r.NotDstIpSetIds)
	ids("snp", r.SrcNamedPortIpSetIds)
	ids("!snp", r.NotSrcNamedPortIpSetIds)
	ids("dnp", r.DstNamedPortIpSetIds)
	ids("!dnp", r.NotDstNamedPortIpSetIds)
	if len(r.SrcNets) > 0 {
		parts = append(parts, fmt.Sprintf("srcnet=%v", r.SrcNets))
	}
	if len(r.DstNets) > 0 {
		parts = append(parts, fmt.Sprintf("dstnet=%v", r.DstNets))
	}
	for _, p := range r.SrcPorts {
		parts = append(parts, fmt.Sprintf("sport=%d-%d", p.First, p.Last))
	}
	for _, p := range r.DstPorts {
		parts = append(parts, fmt.Sprintf("dport=%d-%d", p.First, p.Last))
	}
	return strings.Join(parts, " ") + " (" + r.Origin + ")"
}

func fmtPorts(ps []*proto.ProtoPort) string {
	var out []string
	for _, p := range ps {
		s := fmt.Sprintf("%s:%d", p.Protocol, p.Port)
		if p.Net != "" {
			s += "@" + p.Net
		}
		out = append(out, s)
	}
	return "[" + strings.Join(out, " ") + "]"
}
