// Package reference is a reference evaluator of Calico host-endpoint policy:
// given the resources and a packet, it says what should happen to the
// packet: allowed and tracked, allowed without conntrack (untracked), or
// denied, and which policy and rule decided.
//
// It is written from the policy semantics alone (docs/policy-semantics.md),
// deliberately simple and independent of the calculation graph and the
// renderer, so that comparing the two (on the fake kernel's tracer and on
// real packets) checks the whole pipeline. It evaluates the first packet of
// a flow (conntrack state new); replies of allowed tracked flows are always
// allowed by conntrack. ICMP messages that cannot start a flow (replies,
// errors) are invalid to conntrack as first packets, and every stateful
// stage drops them; ICMPv6 neighbour discovery is never tracked.
package reference

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
)

// Model is the policy state of one node.
type Model struct {
	Node          string
	HostEndpoints []*model.HostEndpoint
	Policies      []*model.GlobalNetworkPolicy
	NetworkSets   []*model.GlobalNetworkSet
	Profiles      []*model.Profile
	FelixConfigs  []*model.FelixConfiguration
	// Interfaces are the host's interfaces and addresses; they bind host
	// endpoints that give only expectedIPs.
	Interfaces map[string][]netip.Addr
}

// Direction says where a packet goes relative to the host.
type Direction int

// Directions.
const (
	Ingress Direction = iota // arriving on InIface, for the host itself
	Egress                   // sent by the host out of OutIface
	Forward                  // arriving on InIface, forwarded out of OutIface
)

func (d Direction) String() string {
	return [...]string{"ingress", "egress", "forward"}[d]
}

// Packet is the first packet of a flow: the first packet conntrack sees
// with its addresses, ports or ICMP identifier. For ICMP messages that
// cannot start a flow (replies, errors; see conntrackInvalid) that makes the
// packet invalid to conntrack.
type Packet struct {
	Direction          Direction
	InIface, OutIface  string
	Src, Dst           netip.Addr
	Proto              uint8  // IP protocol number
	SrcPort, DstPort   uint16 // TCP, UDP, SCTP
	ICMPType, ICMPCode uint8  // ICMP, ICMPv6
}

func (p Packet) String() string {
	s := fmt.Sprintf("%s %s→%s proto %d", p.Direction, p.Src, p.Dst, p.Proto)
	if hasPorts(p.Proto) {
		s += fmt.Sprintf(" %d→%d", p.SrcPort, p.DstPort)
	}
	if p.Proto == 1 || p.Proto == 58 {
		s += fmt.Sprintf(" type %d code %d", p.ICMPType, p.ICMPCode)
	}
	return s + fmt.Sprintf(" in %q out %q", p.InIface, p.OutIface)
}

// Verdict is what happens to a packet.
type Verdict int

// Verdicts.
const (
	Allow          Verdict = iota // delivered, tracked by conntrack
	AllowUntracked                // delivered, not tracked
	Deny                          // dropped
)

func (v Verdict) String() string { return [...]string{"allow", "allow-untracked", "deny"}[v] }

// Decision is a verdict and the reasons for it, in evaluation order.
type Decision struct {
	Verdict Verdict
	Steps   []string
}

func (d Decision) String() string { return d.Verdict.String() + ": " + strings.Join(d.Steps, "; ") }

// Evaluate decides p.
func (m *Model) Evaluate(p Packet) Decision {
	e := &evaluation{m: m, p: p}
	return e.run()
}

type evaluation struct {
	m     *Model
	p     Packet
	steps []string
}

func (e *evaluation) note(format string, args ...any) {
	e.steps = append(e.steps, fmt.Sprintf(format, args...))
}

// decide ends the evaluation. A delivered packet that conntrack never
// tracks (ICMPv6 neighbour discovery and multicast listener messages) is
// untracked whichever stage let it through.
func (e *evaluation) decide(v Verdict) Decision {
	if v == Allow && conntrackSkips(e.p) {
		e.note("conntrack leaves ICMPv6 type %d untracked", e.p.ICMPType)
		v = AllowUntracked
	}
	return Decision{Verdict: v, Steps: e.steps}
}

func (e *evaluation) run() Decision {
	p := e.p
	in, out := e.m.endpointFor(p.InIface), e.m.endpointFor(p.OutIface)
	if p.Direction == Egress {
		in = nil
	}
	if p.Direction == Ingress {
		out = nil
	}
	fsIn, fsOut := e.m.failsafe()

	// Raw stage, before conntrack: failsafe traffic stays tracked; then
	// untracked policy of the endpoint the packet arrives on (ingress and
	// forward) or leaves by (egress).
	raw, rawIn := in, true
	if p.Direction == Egress {
		raw, rawIn = out, false
	}
	if raw != nil {
		switch {
		case isNDP(p):
			e.note("ICMPv6 neighbour discovery: untracked policy skipped")
		case rawIn && (matchesFailsafe(fsIn, p, true) || matchesFailsafe(fsOut, p, false)):
			e.note("failsafe: stays tracked, untracked policy skipped")
		case !rawIn && (matchesFailsafe(fsOut, p, true) || matchesFailsafe(fsIn, p, false)):
			e.note("failsafe: stays tracked, untracked policy skipped")
		default:
			switch e.tier("untracked", raw, e.m.policiesOf(raw, kindUntracked, rawIn), rawIn) {
			case ruleAllow:
				return e.decide(AllowUntracked)
			case ruleDeny:
				return e.decide(Deny)
			}
		}
	}
	// Pre-DNAT policy: ingress, on the arriving endpoint; no default deny.
	// Its chain is stateful like normal policy's: a packet conntrack calls
	// invalid is dropped first.
	if in != nil && (p.Direction == Ingress || p.Direction == Forward) {
		if pols := e.m.policiesOf(in, kindPreDNAT, true); len(pols) > 0 {
			if conntrackInvalid(p) {
				e.note("conntrack: invalid (%s), dropped by %s's pre-DNAT chain", invalidReason(p), in.Metadata.Name)
				return e.decide(Deny)
			}
			if matchesFailsafe(fsIn, p, true) || isNDP(p) {
				e.note("failsafe inbound port or neighbour discovery: pre-DNAT policy skipped")
			} else if e.tier("pre-DNAT", in, pols, true) == ruleDeny {
				return e.decide(Deny)
			}
		}
	}
	switch p.Direction {
	case Ingress:
		return e.hostTraffic(in, true, fsIn)
	case Egress:
		return e.hostTraffic(out, false, fsOut)
	}
	// Forwarded traffic is policed only by applyOnForward policy; each
	// side that has some must allow it (or pass).
	for _, side := range []struct {
		ep *model.HostEndpoint
		in bool
	}{{in, true}, {out, false}} {
		if side.ep == nil {
			continue
		}
		pols := e.m.policiesOf(side.ep, kindForward, side.in)
		if len(pols) == 0 {
			continue
		}
		if conntrackInvalid(p) {
			e.note("conntrack: invalid (%s), dropped by %s's forward chain", invalidReason(p), side.ep.Metadata.Name)
			return e.decide(Deny)
		}
		switch e.tier("forward", side.ep, pols, side.in) {
		case ruleDeny:
			return e.decide(Deny)
		case ruleNone:
			e.note("end of tier on %s: no forward policy allowed the packet", side.ep.Metadata.Name)
			return e.decide(Deny)
		}
	}
	e.note("forwarded")
	return e.decide(Allow)
}

// hostTraffic evaluates normal policy, profiles and default deny for
// traffic to (in) or from the host on endpoint ep.
func (e *evaluation) hostTraffic(ep *model.HostEndpoint, in bool, fs []model.ProtoPort) Decision {
	if ep == nil {
		e.note("no host endpoint on the interface")
		return e.decide(Allow)
	}
	if conntrackInvalid(e.p) {
		e.note("conntrack: invalid (%s), dropped by %s's chain", invalidReason(e.p), ep.Metadata.Name)
		return e.decide(Deny)
	}
	if matchesFailsafe(fs, e.p, true) {
		e.note("failsafe port")
		return e.decide(Allow)
	}
	if isNDP(e.p) {
		e.note("ICMPv6 neighbour discovery")
		return e.decide(Allow)
	}
	pols := e.m.policiesOf(ep, kindNormal, in)
	if len(pols) > 0 {
		switch e.tier("normal", ep, pols, in) {
		case ruleAllow:
			return e.decide(Allow)
		case ruleDeny:
			return e.decide(Deny)
		case ruleNone:
			e.note("end of tier: no policy allowed the packet")
			return e.decide(Deny)
		}
	}
	for _, name := range ep.Spec.Profiles {
		pro := e.m.profile(name)
		if pro == nil {
			continue
		}
		rules := pro.Spec.Egress
		if in {
			rules = pro.Spec.Ingress
		}
		switch a, i := e.rules(rules); a {
		case ruleAllow:
			e.note("profile %s rule %d allowed", name, i)
			return e.decide(Allow)
		case ruleDeny:
			e.note("profile %s rule %d denied", name, i)
			return e.decide(Deny)
		}
	}
	e.note("default deny on host endpoint %s", ep.Metadata.Name)
	return e.decide(Deny)
}

type ruleResult int

const (
	ruleNone ruleResult = iota
	ruleAllow
	ruleDeny
	rulePass
)

// tier evaluates policies in order: the first Allow or Deny decides; a Pass
// ends the tier (rulePass); ruleNone when no rule decided.
func (e *evaluation) tier(stage string, ep *model.HostEndpoint, pols []*model.GlobalNetworkPolicy, in bool) ruleResult {
	for _, pol := range pols {
		rules := pol.Spec.Egress
		if in {
			rules = pol.Spec.Ingress
		}
		a, i := e.rules(rules)
		name, _ := model.NormalizePolicyName(pol.Metadata.Name)
		switch a {
		case ruleAllow:
			e.note("%s policy %s rule %d allowed", stage, name, i)
			return ruleAllow
		case ruleDeny:
			e.note("%s policy %s rule %d denied", stage, name, i)
			return ruleDeny
		case rulePass:
			e.note("%s policy %s rule %d passed", stage, name, i)
			return rulePass
		}
	}
	if len(pols) > 0 {
		e.note("no %s rule decided", stage)
	}
	return ruleNone
}

// rules returns the first deciding rule's action and index; Log rules are
// noted and passed over.
func (e *evaluation) rules(rules []model.Rule) (ruleResult, int) {
	for i := range rules {
		r := &rules[i]
		if !e.m.matches(r, e.p) {
			continue
		}
		switch r.Action {
		case model.Allow:
			return ruleAllow, i
		case model.Deny:
			return ruleDeny, i
		case model.Pass:
			return rulePass, i
		case model.Log:
			e.note("logged by rule %d", i)
		}
	}
	return ruleNone, -1
}

type policyKind int

const (
	kindUntracked policyKind = iota
	kindPreDNAT
	kindNormal
	kindForward
)

// policiesOf returns the policies of one kind whose selector matches the
// endpoint and whose types include the direction, in Calico's order.
func (m *Model) policiesOf(ep *model.HostEndpoint, kind policyKind, in bool) []*model.GlobalNetworkPolicy {
	labels := m.labels(ep)
	var out []*model.GlobalNetworkPolicy
	for _, pol := range m.effectivePolicies() {
		s := &pol.Spec
		var ok bool
		switch kind {
		case kindUntracked:
			ok = s.DoNotTrack
		case kindPreDNAT:
			ok = s.PreDNAT && in
		case kindNormal:
			ok = !s.DoNotTrack && !s.PreDNAT
		case kindForward:
			ok = !s.DoNotTrack && !s.PreDNAT && s.ApplyOnForward
		}
		dir := model.PolicyTypeEgress
		if in {
			dir = model.PolicyTypeIngress
		}
		if !ok || !s.AppliesTo(dir) || s.ServiceAccountSelector != "" {
			continue
		}
		if s.NamespaceSelector != "" && selector.MustParse(s.NamespaceSelector).String() != "global()" {
			continue
		}
		if sel, err := selector.Parse(s.Selector); err == nil && sel.Evaluate(selector.Map(labels)) {
			out = append(out, pol)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Spec.Order, out[j].Spec.Order
		switch {
		case a != nil && b != nil && *a != *b:
			return *a < *b
		case a != nil && b == nil:
			return true
		case a == nil && b != nil:
			return false
		}
		na, _ := model.NormalizePolicyName(out[i].Metadata.Name)
		nb, _ := model.NormalizePolicyName(out[j].Metadata.Name)
		return na < nb
	})
	return out
}

// effectivePolicies resolves "default.<name>" duplicates: the unprefixed
// one wins.
func (m *Model) effectivePolicies() []*model.GlobalNetworkPolicy {
	byName := map[string]*model.GlobalNetworkPolicy{}
	for _, p := range m.Policies {
		name, prefixed := model.NormalizePolicyName(p.Metadata.Name)
		if cur := byName[name]; cur == nil || !prefixed {
			byName[name] = p
		}
	}
	var out []*model.GlobalNetworkPolicy
	for _, name := range slicesSorted(byName) {
		out = append(out, byName[name])
	}
	return out
}

func slicesSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Resources returns every resource of the model, for feeding the same state
// to untrackd.
func (m *Model) Resources() []model.Resource { return m.all() }

func (m *Model) all() []model.Resource {
	var out []model.Resource
	for _, r := range m.HostEndpoints {
		out = append(out, r)
	}
	for _, r := range m.Policies {
		out = append(out, r)
	}
	for _, r := range m.NetworkSets {
		out = append(out, r)
	}
	for _, r := range m.Profiles {
		out = append(out, r)
	}
	for _, r := range m.FelixConfigs {
		out = append(out, r)
	}
	return out
}
