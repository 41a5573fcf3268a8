package render

import (
	"net/netip"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// renderRule renders one policy rule with the given action (statements and
// verdict). A rule that matches addresses, IP sets, named ports or ICMP is
// rendered once per IP family it can match, since nftables matches each
// family with its own expressions; a rule that cannot match any family
// renders to nothing. A rule with both port numbers and named ports (or
// several named ports) on one side is split into one rule per alternative,
// since a rule can only AND its matches.
func (r *renderer) renderRule(rl *proto.Rule, action []nft.Expr) []nft.Rule {
	families := []nft.Family{0}
	if familySpecific(rl) {
		families = []nft.Family{nft.IPv4, nft.IPv6}
	}
	var out []nft.Rule
	for _, f := range families {
		common, ok := r.matchExprs(rl, f)
		if !ok {
			continue
		}
		for _, sp := range portVariants(rl.SrcPorts, rl.SrcNamedPortIpSetIds) {
			for _, dp := range portVariants(rl.DstPorts, rl.DstNamedPortIpSetIds) {
				e := append([]nft.Expr(nil), common...)
				e = append(e, r.portExprs(nft.SrcPort, sp, rl.NotSrcPorts, rl.NotSrcNamedPortIpSetIds, f)...)
				e = append(e, r.portExprs(nft.DstPort, dp, rl.NotDstPorts, rl.NotDstNamedPortIpSetIds, f)...)
				e = append(e, r.icmpExprs(rl, f)...)
				e = append(e, nft.Counter{})
				e = append(e, action...)
				out = append(out, nft.Rule{Exprs: e, Comment: rl.Origin})
			}
		}
	}
	return out
}

// portVariant is one alternative of a port match: port numbers, or one
// named-port set, or (both empty) no port match.
type portVariant struct {
	ranges []*proto.PortRange
	named  string
}

// portVariants returns the alternatives a side's ports allow.
func portVariants(ranges []*proto.PortRange, named []string) []portVariant {
	var out []portVariant
	if len(ranges) > 0 {
		out = append(out, portVariant{ranges: ranges})
	}
	for _, id := range named {
		out = append(out, portVariant{named: id})
	}
	if len(out) == 0 {
		out = append(out, portVariant{})
	}
	return out
}

func (r *renderer) portExprs(field nft.PortField, v portVariant, not []*proto.PortRange, notNamed []string, f nft.Family) []nft.Expr {
	var e []nft.Expr
	addr := nft.SrcAddr
	if field == nft.DstPort {
		addr = nft.DstAddr
	}
	if len(v.ranges) > 0 {
		e = append(e, portMatch(field, portRanges(v.ranges), false))
	}
	if v.named != "" {
		e = append(e, nft.AddrPortInSet{Field: addr, Family: f, Set: SetName(v.named, proto.IPSetType_IP_SET_NAMED_PORTS, f)})
	}
	if len(not) > 0 {
		e = append(e, portMatch(field, portRanges(not), true))
	}
	for _, id := range notNamed {
		if _, ok := r.in.IPSets[id]; ok {
			e = append(e, nft.AddrPortInSet{Field: addr, Family: f, Set: SetName(id, proto.IPSetType_IP_SET_NAMED_PORTS, f), Neg: true})
		}
	}
	return e
}

// familySpecific reports whether the rule has to be rendered per family.
func familySpecific(r *proto.Rule) bool {
	return r.IpVersion != 0 || len(r.SrcNets)+len(r.NotSrcNets)+len(r.DstNets)+len(r.NotDstNets) > 0 ||
		len(r.SrcIpSetIds)+len(r.NotSrcIpSetIds)+len(r.DstIpSetIds)+len(r.NotDstIpSetIds) > 0 ||
		len(r.SrcNamedPortIpSetIds)+len(r.NotSrcNamedPortIpSetIds)+len(r.DstNamedPortIpSetIds)+len(r.NotDstNamedPortIpSetIds) > 0 ||
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

// matchExprs returns the family, protocol and address matches of r for
// family f (0: family independent), or false if r cannot match packets of
// f. Every match that reads a header comes after the match that makes
// reading it valid (see nft.CheckRule).
func (r *renderer) matchExprs(rl *proto.Rule, f nft.Family) ([]nft.Expr, bool) {
	var e []nft.Expr
	if f != 0 {
		if rl.IpVersion != 0 && nft.Family(rl.IpVersion) != f {
			return nil, false
		}
		if fam := icmpProto(rl.Protocol); fam != 0 && fam != f {
			return nil, false
		}
		e = append(e, nft.NFProto{Family: f})
	}
	if rl.Protocol != nil {
		e = append(e, nft.L4Proto{Proto: uint8(*rl.Protocol)})
	}
	if rl.NotProtocol != nil {
		e = append(e, nft.L4Proto{Proto: uint8(*rl.NotProtocol), Neg: true})
	}
	for _, a := range []struct {
		field         nft.AddrField
		nets, not     []string
		sets, notSets []string
	}{
		{nft.SrcAddr, rl.SrcNets, rl.NotSrcNets, rl.SrcIpSetIds, rl.NotSrcIpSetIds},
		{nft.DstAddr, rl.DstNets, rl.NotDstNets, rl.DstIpSetIds, rl.NotDstIpSetIds},
	} {
		if len(a.nets) > 0 {
			ps := prefixes(a.nets, f)
			if len(ps) == 0 {
				return nil, false // only networks of the other family
			}
			e = append(e, nft.Addrs{Field: a.field, Family: f, Prefixes: ps})
		}
		if len(a.not) > 0 {
			ps := prefixes(a.not, f)
			if len(ps) == 0 {
				return nil, false // as Felix: a rule whose networks are all of the other family does not apply
			}
			e = append(e, nft.Addrs{Field: a.field, Family: f, Prefixes: ps, Neg: true})
		}
		for _, id := range a.sets {
			t, ok := r.in.IPSets[id]
			if !ok {
				return nil, false
			}
			e = append(e, nft.AddrInSet{Field: a.field, Family: f, Set: SetName(id, t, f)})
		}
		for _, id := range a.notSets {
			if t, ok := r.in.IPSets[id]; ok {
				e = append(e, nft.AddrInSet{Field: a.field, Family: f, Set: SetName(id, t, f), Neg: true})
			}
		}
	}
	for _, ids := range [][]string{rl.SrcNamedPortIpSetIds, rl.DstNamedPortIpSetIds} {
		for _, id := range ids {
			if _, ok := r.in.IPSets[id]; !ok {
				return nil, false
			}
		}
	}
	return e, true
}

func (r *renderer) icmpExprs(rl *proto.Rule, f nft.Family) []nft.Expr {
	var e []nft.Expr
	if rl.IcmpType != nil {
		e = append(e, icmpMatch(f, rl.IcmpType, rl.IcmpCode, false))
	}
	if rl.NotIcmpType != nil {
		e = append(e, icmpMatch(f, rl.NotIcmpType, rl.NotIcmpCode, true))
	}
	return e
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
