package render

import (
	"net/netip"
	"sort"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

var protoNumbers = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}

// failsafe renders the four failsafe chains. Their rules accept, so a jump
// to one ends the calling base chain for failsafe traffic.
//
// The raw chains run before conntrack, where accepting means "leave it to
// normal processing": packets to inbound failsafe ports and replies from
// outbound ones (in), packets to outbound failsafe ports and replies from
// inbound ones (out). That keeps failsafe traffic tracked, so neither an
// untracked Deny nor a one-sided untracked Allow can cut off SSH, DHCP, DNS
// or etcd.
//
// The filter chains (also used by pre-DNAT policy) accept only packets to
// the failsafe ports (conntrack accepts the replies) before normal policy
// and default deny.
//
// All four accept the ICMPv6 neighbour discovery and multicast listener
// messages IPv6 cannot work without (types 130 to 136 and 143, MLDv2
// reports), so no policy, untracked or not, can cut off IPv6 (and with it
// failsafe access over IPv6).
func (r *renderer) failsafe() {
	c := r.in.Config
	r.rs.add(&nft.Chain{Name: ChainFailsafeRawIn, Rules: append(failsafeRules(c, true, true), ndpRules()...)})
	r.rs.add(&nft.Chain{Name: ChainFailsafeRawOut, Rules: append(failsafeRules(c, false, true), ndpRules()...)})
	r.rs.add(&nft.Chain{Name: ChainFailsafeIn, Rules: append(failsafeRules(c, true, false), ndpRules()...)})
	r.rs.add(&nft.Chain{Name: ChainFailsafeOut, Rules: append(failsafeRules(c, false, false), ndpRules()...)})
}

// NDTypes are the ICMPv6 types of multicast listener discovery (130-132,
// 143) and neighbour discovery (router and neighbour solicitation and
// advertisement, redirect: 133-137 less 137), which host endpoints always
// allow.
var NDTypes = []uint8{130, 131, 132, 133, 134, 135, 136, 143}

// ndpRules accept the ICMPv6 messages in NDTypes.
func ndpRules() []nft.Rule {
	var rules []nft.Rule
	for _, t := range NDTypes {
		rules = append(rules, rule("ICMPv6 neighbour discovery",
			nft.NFProto{Family: nft.IPv6}, nft.L4Proto{Proto: 58}, nft.ICMP{V6: true, Type: t}, accept))
	}
	return rules
}

// failsafeRules returns the rules accepting packets to the failsafe ports of
// one direction (in: inbound ports, arriving; out: outbound ports, leaving)
// and, with replies, the replies to the other direction's failsafe ports.
// A failsafe entry's net restricts the remote address.
func failsafeRules(c *proto.ConfigUpdate, in, replies bool) []nft.Rule {
	type group struct {
		proto uint8
		net   string
		port  nft.PortField
	}
	ports := map[group][]nft.PortRange{}
	add := func(entries []*proto.ProtoPort, field nft.PortField) {
		for _, e := range entries {
			p, ok := protoNumbers[e.Protocol]
			if !ok || e.Port == 0 {
				continue
			}
			g := group{p, e.Net, field}
			ports[g] = append(ports[g], nft.PortRange{First: uint16(e.Port), Last: uint16(e.Port)})
		}
	}
	if in {
		add(c.GetFailsafeInbound(), nft.DstPort)
		if replies {
			add(c.GetFailsafeOutbound(), nft.SrcPort)
		}
	} else {
		add(c.GetFailsafeOutbound(), nft.DstPort)
		if replies {
			add(c.GetFailsafeInbound(), nft.SrcPort)
		}
	}
	groups := make([]group, 0, len(ports))
	for g := range ports {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.port != b.port {
			return a.port > b.port // destination ports first
		}
		if a.proto != b.proto {
			return a.proto < b.proto
		}
		return a.net < b.net
	})
	var rules []nft.Rule
	remote := nft.SrcAddr
	if !in {
		remote = nft.DstAddr
	}
	for _, g := range groups {
		var e []nft.Expr
		if g.net != "" {
			p, err := netip.ParsePrefix(g.net)
			if err != nil {
				continue
			}
			f := nft.IPv4
			if !p.Addr().Is4() {
				f = nft.IPv6
			}
			e = append(e, nft.NFProto{Family: f}, nft.Addrs{Field: remote, Family: f, Prefixes: []netip.Prefix{p}})
		}
		rs := ports[g]
		sort.Slice(rs, func(i, j int) bool { return rs[i].First < rs[j].First })
		rs = dedupe(rs)
		e = append(e, nft.L4Proto{Proto: g.proto}, nft.Ports{Field: g.port, Ranges: rs}, nft.Verdict{Kind: nft.Accept})
		comment := "failsafe inbound"
		if (g.port == nft.DstPort) != in {
			comment = "failsafe outbound"
		}
		if g.port == nft.SrcPort {
			comment += " replies"
		}
		rules = append(rules, nft.Rule{Exprs: e, Comment: comment})
	}
	return rules
}

func dedupe(rs []nft.PortRange) []nft.PortRange {
	out := rs[:0]
	for i, r := range rs {
		if i == 0 || r != rs[i-1] {
			out = append(out, r)
		}
	}
	return out
}
