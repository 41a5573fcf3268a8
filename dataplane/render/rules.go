package render

import (
	"net/netip"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// renderRule renders one policy rule with the given action (statements and
// verdict). A rule that matches addresses or ICMP is rendered once per IP
// family it can match, since nftables matches each family with its own
// expressions; a rule that cannot match any family renders to nothing.
func renderRule(cfg Config, r *proto.Rule, action []nft.Expr, ipsets map[string]bool) []nft.Rule {
	var out []nft.Rule
	if !familySpecific(r) {
		if exprs, ok := matchExprs(r, 0, ipsets); ok {
			out = append(out, nft.Rule{Exprs: append(append(exprs, nft.Counter{}), action...), Comment: r.Origin})
		}
		return out
	}
	for _, f := range []nft.Family{nft.IPv4, nft.IPv6} {
		if exprs, ok := matchExprs(r, f, ipsets); ok {
			out = append(out, nft.Rule{Exprs: append(append(exprs, nft.Counter{}), action...), Comment: r.Origin})
		}
	}
	return out
}

// familySpecific reports whether the rule has to be rendered per family.
func familySpecific(r *proto.Rule) bool {
	return r.IpVersion != 0 || len(r.SrcNets)+len(r.NotSrcNets)+len(r.DstNets)+len(r.NotDstNets) > 0 ||
		len(r.SrcIpSetIds)+len(r.NotSrcIpSetIds)+len(r.DstIpSetIds)+len(r.NotDstIpSetIds) > 0 ||
		r.IcmpType != nil || r.NotIcmpType != nil || icmpProto(r.Protocol) != 0
}

// icmpProto returns 4 or 6 if p is ICMP or ICMPv6, else 0.
func icmpProto(p *uint32) nft.Family {
	switch {
	case p == nil:
		return 0
	case *p == 1:
		return nft.IPv4
	case *p == 58:
		return nft.IPv6
	}
	return 0
}

// matchExprs returns the match expressions of r for family f (0: family
// independent), or false if r cannot match packets of f.
func matchExprs(r *proto.Rule, f nft.Family, ipsets map[string]bool) ([]nft.Expr, bool) {
	var e []nft.Expr
	if f != 0 {
		if r.IpVersion != 0 && nft.Family(r.IpVersion) != f {
			return nil, false
		}
		if fam := icmpProto(r.Protocol); fam != 0 && fam != f {
			return nil, false
		}
		e = append(e, nft.NFProto{Family: f})
	}
	if r.Protocol != nil {
		e = append(e, nft.L4Proto{Proto: uint8(*r.Protocol)})
	}
	if r.NotProtocol != nil {
		e = append(e, nft.L4Proto{Proto: uint8(*r.NotProtocol), Neg: true})
	}
	for _, a := range []struct {
		field     nft.AddrField
		nets, not []string
		sets      []string
		notSets   []string
	}{
		{nft.SrcAddr, r.SrcNets, r.NotSrcNets, r.SrcIpSetIds, r.NotSrcIpSetIds},
		{nft.DstAddr, r.DstNets, r.NotDstNets, r.DstIpSetIds, r.NotDstIpSetIds},
	} {
		if len(a.nets) > 0 {
			ps := prefixes(a.nets, f)
			if len(ps) == 0 {
				return nil, false // only networks of the other family
			}
			e = append(e, nft.Addrs{Field: a.field, Family: f, Prefixes: ps})
		}
		if ps := prefixes(a.not, f); len(ps) > 0 {
			e = append(e, nft.Addrs{Field: a.field, Family: f, Prefixes: ps, Neg: true})
		}
		for _, id := range a.sets {
			if !ipsets[id] {
				return nil, false
			}
			e = append(e, nft.AddrInSet{Field: a.field, Family: f, Set: SetName(id, f)})
		}
		for _, id := range a.notSets {
			if ipsets[id] {
				e = append(e, nft.AddrInSet{Field: a.field, Family: f, Set: SetName(id, f), Neg: true})
			}
		}
	}
	for _, p := range []struct {
		field nft.PortField
		ports []*proto.PortRange
		neg   bool
	}{
		{nft.SrcPort, r.SrcPorts, false}, {nft.SrcPort, r.NotSrcPorts, true},
		{nft.DstPort, r.DstPorts, false}, {nft.DstPort, r.NotDstPorts, true},
	} {
		if len(p.ports) > 0 {
			e = append(e, nft.Ports{Field: p.field, Ranges: portRanges(p.ports), Neg: p.neg})
		}
	}
	if r.IcmpType != nil {
		e = append(e, icmpMatch(f, r.IcmpType, r.IcmpCode, false))
	}
	if r.NotIcmpType != nil {
		e = append(e, icmpMatch(f, r.NotIcmpType, r.NotIcmpCode, true))
	}
	return e, true
}

func icmpMatch(f nft.Family, typ, code *uint32, neg bool) nft.ICMP {
	m := nft.ICMP{V6: f == nft.IPv6, Type: uint8(*typ), Neg: neg}
	if code != nil {
		m.HasCode, m.Code = true, uint8(*code)
	}
	return m
}

// prefixes parses the networks of family f (any family when f is 0, which
// only happens for rules without networks).
func prefixes(nets []string, f nft.Family) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range nets {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			continue
		}
		if (f == nft.IPv4) == p.Addr().Is4() {
			out = append(out, p)
		}
	}
	return out
}

func portRanges(ps []*proto.PortRange) []nft.PortRange {
	out := make([]nft.PortRange, len(ps))
	for i, p := range ps {
		out[i] = nft.PortRange{First: uint16(p.First), Last: uint16(p.Last)}
	}
	return out
}
