package reference

import (
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
	if len(e.NotNets) > 0 && inNets(e.NotNets, addr) {
		return false
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
// listener message (types 130 to 136), which host endpoints always allow.
func isNDP(p Packet) bool { return p.Proto == 58 && p.ICMPType >= 130 && p.ICMPType <= 136 }
