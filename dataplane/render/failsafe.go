package render

import (
	"net/netip"
	"sort"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

var protoNumbers = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132}

// failsafeRules returns the rules that exempt failsafe traffic from
// untracked policy, for raw prerouting (in) or raw output. Accepting it in
// the raw chains keeps it tracked, so neither an untracked Deny nor a
// one-sided untracked Allow can cut off SSH, DHCP, DNS or etcd.
//
// In prerouting: packets to inbound failsafe ports, and replies from
// outbound failsafe ports. In output: packets to outbound failsafe ports, and
// replies from inbound failsafe ports. A failsafe entry's net restricts the
// remote address.
func failsafeRules(c *proto.ConfigUpdate, in bool) []nft.Rule {
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
		add(c.GetFailsafeOutbound(), nft.SrcPort)
	} else {
		add(c.GetFailsafeOutbound(), nft.DstPort)
		add(c.GetFailsafeInbound(), nft.SrcPort)
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
