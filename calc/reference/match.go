package reference

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
)

func hasPorts(proto uint8) bool { return proto == 6 || proto == 17 || proto == 132 || proto == 136 }

// matches reports whether rule r matches packet p (all its criteria hold).
func (m *Model) matches(r *model.Rule, p Packet) bool {
	v4 := p.Src.Is4()
	if r.IPVersion != nil && (*r.IPVersion == 4) != v4 {
		return false
	}
	if r.Protocol != nil {
		if n, _ := r.Protocol.Number(); n != p.Proto {
			return false
		}
	}
	if r.NotProtocol != nil {
		if n, _ := r.NotProtocol.Number(); n == p.Proto {
			return false
		}
	}
	if r.ICMP != nil && !icmpMatches(r.ICMP, p) {
		return false
	}
	if r.NotICMP != nil && icmpMatches(r.NotICMP, p) {
		return false
	}
	var proto uint8
	if r.Protocol != nil {
		proto, _ = r.Protocol.Number()
	}
	return m.entityMatches(&r.Source, p.Src, p.SrcPort, proto, p) &&
		m.entityMatches(&r.Destination, p.Dst, p.DstPort, proto, p)
}

// icmpMatches reports whether p's ICMP type (and code, if given) are f's.
// ICMP fields only appear on rules whose protocol is ICMP or ICMPv6, so the
// protocol has been checked already.
func icmpMatches(f *model.ICMPFields, p Packet) bool {
	if f.Type != nil && *f.Type != int(p.ICMPType) {
		return false
	}
	if f.Code != nil && *f.Code != int(p.ICMPCode) {
		return false
	}
	return true
}

// entityMatches checks one side (address addr, port port) of a packet.
func (m *Model) entityMatches(e *model.EntityRule, addr netip.Addr, port uint16, proto uint8, p Packet) bool {
	if e.Services != nil || e.ServiceAccounts != nil {
		return false // Kubernetes workloads only
	}
	sel := e.Selector
	if e.NamespaceSelector != "" {
		if selector.MustParse(e.NamespaceSelector).String() != "global()" {
			return false // Kubernetes workloads only
		}
		if sel == "" {
			sel = "all()"
		}
	}
	if len(e.Nets) > 0 && !inNets(e.Nets, addr) {
		return false
	}
	if len(e.NotNets) > 0 && (inNets(e.NotNets, addr) || !anyOfFamily(e.NotNets, addr)) {
		return false // as Felix: networks only of the other family make the rule not apply
	}
	if sel != "" && !m.selected(sel, addr) {
		return false
	}
	if e.NotSelector != "" && m.selected(e.NotSelector, addr) {
		return false
	}
	if len(e.Ports) > 0 && !(hasPorts(p.Proto) && m.portMatches(e.Ports, sel, addr, port, proto)) {
		return false
	}
	if len(e.NotPorts) > 0 && hasPorts(p.Proto) && m.portMatches(e.NotPorts, sel, addr, port, proto) {
		return false
	}
	return true
}

// anyOfFamily reports whether some of nets are of addr's IP family.
func anyOfFamily(nets []string, a netip.Addr) bool {
	for _, n := range nets {
		if p, err := model.ParseNet(n); err == nil && p.Addr().Is4() == a.Is4() {
			return true
		}
	}
	return false
}

func inNets(nets []string, a netip.Addr) bool {
	for _, n := range nets {
		if p, err := model.ParseNet(n); err == nil && p.Contains(a) {
			return true
		}
	}
	return false
}

// selected reports whether addr belongs to what selector s selects: the
// expected IPs of the host endpoints (of any node) and the nets of the
// network sets whose labels match.
func (m *Model) selected(s string, addr netip.Addr) bool {
	sel, err := selector.Parse(s)
	if err != nil {
		return false
	}
	for _, h := range m.HostEndpoints {
		if sel.Evaluate(selector.Map(m.labels(h))) && slices.ContainsFunc(h.Spec.ExpectedIPs, func(ip string) bool {
			a, err := netip.ParseAddr(ip)
			return err == nil && a.Unmap() == addr
		}) {
			return true
		}
	}
	for _, ns := range m.NetworkSets {
		if sel.Evaluate(selector.Map(ns.Metadata.Labels)) && inNets(ns.Spec.Nets, addr) {
			return true
		}
	}
	return false
}

// portMatches reports whether port (of address addr, protocol proto) is
// one of ports: a number or range, or a named port of a host endpoint that
// sel selects (every host endpoint when sel is "") whose address is addr.
func (m *Model) portMatches(ports []model.Port, sel string, addr netip.Addr, port uint16, proto uint8) bool {
	for _, p := range ports {
		if !p.IsNamed() {
			if port >= p.MinPort && port <= p.MaxPort {
				return true
			}
			continue
		}
		if m.namedPort(p.PortName, sel, addr, port, proto) {
			return true
		}
	}
	return false
}

func (m *Model) namedPort(name, sel string, addr netip.Addr, port uint16, proto uint8) bool {
	if sel == "" {
		sel = "all()"
	}
	s, err := selector.Parse(sel)
	if err != nil {
		return false
	}
	for _, h := range m.HostEndpoints {
		if !s.Evaluate(selector.Map(m.labels(h))) {
			continue
		}
		has := slices.ContainsFunc(h.Spec.ExpectedIPs, func(ip string) bool {
			a, err := netip.ParseAddr(ip)
			return err == nil && a.Unmap() == addr
		})
		if !has {
			continue
		}
		for _, np := range h.Spec.Ports {
			n, _ := np.Protocol.Number()
			if np.Name == name && n == proto && np.Port == port {
				return true
			}
		}
	}
	return false
}

// matchesFailsafe reports whether p matches one of the failsafe entries
// fs: its destination port (toPort) or source port (a reply from a
// failsafe port) is the entry's, and the remote address (the source of a
// packet arriving, the destination of one the host sends) is in the
// entry's net.
func matchesFailsafe(fs []model.ProtoPort, p Packet, toPort bool) bool {
	if !hasPorts(p.Proto) {
		return false
	}
	port := p.DstPort
	if !toPort {
		port = p.SrcPort
	}
	remote := p.Src
	if p.Direction == Egress {
		remote = p.Dst
	}
	for _, e := range fs {
		proto := map[string]uint8{"": 6, "tcp": 6, "udp": 17, "sctp": 132}[strings.ToLower(e.Protocol)]
		if proto != p.Proto || e.Port != port {
			continue
		}
		if e.Net != "" {
			if n, err := model.ParseNet(e.Net); err != nil || !n.Contains(remote) {
				continue
			}
		}
		return true
	}
	return false
}

// isNDP reports whether p is an ICMPv6 neighbour-discovery or multicast
// listener message (types 130 to 136 and 143), which host endpoints always
// allow, at every stage.
func isNDP(p Packet) bool { return conntrackSkips(p) }

// conntrackInvalid reports whether conntrack calls p invalid as the first
// packet it sees of its flow: an ICMP or ICMPv6 error (there is no flow it
// could relate to) or an informational message that cannot start a flow,
// such as an echo reply. Only echo, timestamp, information and address-mask
// requests (ICMP) and echo requests and node-information queries (ICMPv6)
// start one; conntrackSkips lists the messages conntrack leaves untracked.
// Every stateful chain (pre-DNAT, normal, forward) drops invalid packets,
// as Felix's do; untracked policy sees them before conntrack.
func conntrackInvalid(p Packet) bool {
	switch p.Proto {
	case 1:
		switch p.ICMPType {
		case 8, 13, 15, 17:
			return false
		}
		return true
	case 58:
		return p.ICMPType != 128 && p.ICMPType != 139 && !conntrackSkips(p)
	}
	return false
}

func invalidReason(p Packet) string {
	if p.Proto == 1 && (p.ICMPType == 3 || p.ICMPType == 4 || p.ICMPType == 5 || p.ICMPType == 11 || p.ICMPType == 12) || p.Proto == 58 && p.ICMPType < 128 {
		return fmt.Sprintf("ICMP error type %d related to no flow", p.ICMPType)
	}
	return fmt.Sprintf("ICMP type %d cannot start a flow", p.ICMPType)
}

// conntrackSkips reports whether conntrack leaves p untracked by itself:
// ICMPv6 neighbour discovery and multicast listener messages (types 130 to
// 136 and 143).
func conntrackSkips(p Packet) bool {
	return p.Proto == 58 && (p.ICMPType >= 130 && p.ICMPType <= 136 || p.ICMPType == 143)
}

// ConntrackState is how conntrack first sees a packet.
type ConntrackState int

// Conntrack states of a flow's first packet.
const (
	CTNew       ConntrackState = iota // starts a flow
	CTInvalid                         // cannot start one (ICMP replies and errors)
	CTUntracked                       // conntrack leaves it alone (ICMPv6 ND, MLD)
)

// FirstPacketState says how conntrack sees p as the first packet of its
// flow.
func FirstPacketState(p Packet) ConntrackState {
	switch {
	case conntrackSkips(p):
		return CTUntracked
	case conntrackInvalid(p):
		return CTInvalid
	}
	return CTNew
}
