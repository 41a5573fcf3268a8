package nft

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// traceSet is a set with its elements, for traceFake.
type traceSet struct {
	Set
	els    []Interval
	tuples []AddrPort
}

// traceFake builds a Fake holding the sets and the chains with their rules,
// through one transaction (so the Fake checks them).
func traceFake(t *testing.T, sets []traceSet, chains ...Chain) *Fake {
	t.Helper()
	f := NewFake()
	tx := &Transaction{}
	tx.AddTable()
	for _, s := range sets {
		tx.AddSet(s.Set)
		tx.AddElements(s.Name, s.els)
		tx.AddTuples(s.Name, s.tuples)
	}
	for _, c := range chains {
		tx.AddChain(c)
	}
	for _, c := range chains {
		for _, r := range c.Rules {
			tx.AddRule(c.Name, r)
		}
	}
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatalf("building the table: %v", err)
	}
	return f
}

func tBase(name string, hook Hook, prio int32, policy ChainPolicy, rules ...Rule) Chain {
	return Chain{Name: name, Base: &BaseChain{Hook: hook, Priority: prio, Policy: policy}, Rules: rules}
}

func tChain(name string, rules ...Rule) Chain { return Chain{Name: name, Rules: rules} }

func tRule(exprs ...Expr) Rule { return Rule{Exprs: exprs} }

var (
	tAccept = Verdict{Kind: Accept}
	tDrop   = Verdict{Kind: Drop}
	tReturn = Verdict{Kind: Return}
	tTCP    = L4Proto{Proto: 6}
	tUDP    = L4Proto{Proto: 17}
)

func tJump(c string) Verdict { return Verdict{Kind: Jump, Chain: c} }
func tGoto(c string) Verdict { return Verdict{Kind: Goto, Chain: c} }

func tDport(rs ...PortRange) Ports { return Ports{Field: DstPort, Ranges: rs} }

// tPkt is a TCP packet from 10.0.0.1:40000 to 10.0.0.2:80 arriving on eth0
// at input, conntrack state new.
func tPkt() Packet {
	return Packet{Hook: HookInput, IIF: "eth0", Src: nlAddr("10.0.0.1"), Dst: nlAddr("10.0.0.2"),
		Proto: 6, SrcPort: 40000, DstPort: 80, CTState: CTNew}
}

func tPkt6() Packet {
	p := tPkt()
	p.Src, p.Dst = nlAddr("fd00::1"), nlAddr("fd00::2")
	return p
}

// TestTraceMatches checks every match expression, and its negation, on
// packets that match and packets that do not: each case is one rule
// "<matches> accept" in an input chain with policy drop.
func TestTraceMatches(t *testing.T) {
	sets := []traceSet{
		{Set: Set{Name: "s4", Type: SetIPv4}, els: []Interval{iv("10.0.0.0/30"), nlIv("10.1.0.5", "10.1.0.9"), nlIv("200.0.0.0", "255.255.255.255")}},
		{Set: Set{Name: "s6", Type: SetIPv6}, els: []Interval{iv("fd00::/127"), iv("fe80::/10")}},
		{Set: Set{Name: "np4", Type: SetIPv4ProtoPort}, tuples: []AddrPort{ap("10.0.0.2", 6, 80), ap("10.0.0.2", 17, 53), ap("10.0.0.1", 6, 40000), ap("10.0.0.9", 1, 0x0800)}},
		{Set: Set{Name: "np6", Type: SetIPv6ProtoPort}, tuples: []AddrPort{ap("fd00::2", 6, 80), ap("fd00::1", 17, 40000)}},
	}
	type tc struct {
		name  string
		exprs []Expr
		pkt   func(p *Packet)
		match bool
	}
	with := func(fns ...func(p *Packet)) func(p *Packet) {
		return func(p *Packet) {
			for _, fn := range fns {
				fn(p)
			}
		}
	}
	hook := func(h Hook) func(p *Packet) { return func(p *Packet) { p.Hook = h } }
	iif := func(s string) func(p *Packet) { return func(p *Packet) { p.IIF = s } }
	oif := func(s string) func(p *Packet) { return func(p *Packet) { p.OIF = s } }
	proto := func(n uint8) func(p *Packet) { return func(p *Packet) { p.Proto = n } }
	dport := func(n uint16) func(p *Packet) { return func(p *Packet) { p.DstPort = n } }
	sport := func(n uint16) func(p *Packet) { return func(p *Packet) { p.SrcPort = n } }
	src := func(a string) func(p *Packet) { return func(p *Packet) { p.Src = nlAddr(a) } }
	dst := func(a string) func(p *Packet) { return func(p *Packet) { p.Dst = nlAddr(a) } }
	v6 := func(p *Packet) {
		*p = func() Packet { q := tPkt6(); q.Hook, q.IIF, q.OIF = p.Hook, p.IIF, p.OIF; return q }()
	}
	mark := func(m uint32) func(p *Packet) { return func(p *Packet) { p.Mark = m } }
	ct := func(s CTState) func(p *Packet) { return func(p *Packet) { p.CTState = s } }
	icmp := func(typ, code uint8) func(p *Packet) {
		return func(p *Packet) { p.Proto, p.ICMPType, p.ICMPCode, p.SrcPort, p.DstPort = 1, typ, code, 0, 0 }
	}
	icmp6 := func(typ, code uint8) func(p *Packet) {
		return with(v6, func(p *Packet) { p.Proto, p.ICMPType, p.ICMPCode = 58, typ, code })
	}
	none := func(*Packet) {}
	v4, v6m := NFProto{Family: IPv4}, NFProto{Family: IPv6}
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, nlPfx(s))
		}
		return out
	}
	cases := []tc{
		// Interfaces: exact names; none at hooks without the device.
		{"iifname", []Expr{IfName{Name: "eth0"}}, none, true},
		{"iifname other", []Expr{IfName{Name: "eth1"}}, none, false},
		{"iifname prefix only", []Expr{IfName{Name: "eth"}}, none, false},
		{"iifname !=", []Expr{IfName{Name: "eth0", Neg: true}}, none, false},
		{"iifname != other", []Expr{IfName{Name: "eth1", Neg: true}}, none, true},
		{"oifname at input is empty", []Expr{IfName{Out: true, Name: "eth1"}}, oif("eth1"), false},
		{"oifname != at input", []Expr{IfName{Out: true, Name: "eth1", Neg: true}}, oif("eth1"), true},
		{"oifname at prerouting is empty", []Expr{IfName{Out: true, Name: "eth1"}}, with(hook(HookPrerouting), oif("eth1")), false},
		{"iifname at output is empty", []Expr{IfName{Name: "eth0"}}, hook(HookOutput), false},
		{"oifname at output", []Expr{IfName{Out: true, Name: "eth1"}}, with(hook(HookOutput), oif("eth1")), true},
		{"both at forward", []Expr{IfName{Name: "eth0"}, IfName{Out: true, Name: "eth1"}}, with(hook(HookForward), oif("eth1")), true},
		{"iifname at postrouting (forwarded)", []Expr{IfName{Name: "eth0"}, IfName{Out: true, Name: "eth1"}}, with(hook(HookPostrouting), oif("eth1")), true},
		{"iifname empty at postrouting (local)", []Expr{IfName{Name: "eth0", Neg: true}}, with(hook(HookPostrouting), iif("")), true},
		// Families and protocols.
		{"nfproto ipv4", []Expr{v4}, none, true},
		{"nfproto ipv4 of IPv6", []Expr{v4}, v6, false},
		{"nfproto ipv6", []Expr{v6m}, v6, true},
		{"l4proto", []Expr{tTCP}, none, true},
		{"l4proto other", []Expr{tUDP}, none, false},
		{"l4proto !=", []Expr{L4Proto{Proto: 17, Neg: true}}, none, true},
		{"l4proto != same", []Expr{L4Proto{Proto: 6, Neg: true}}, none, false},
		// Ports: single, ranges (bounds), anonymous sets, negations, source.
		{"dport", []Expr{tTCP, tDport(PortRange{80, 80})}, none, true},
		{"dport other", []Expr{tTCP, tDport(PortRange{81, 81})}, none, false},
		{"dport range first", []Expr{tTCP, tDport(PortRange{80, 90})}, none, true},
		{"dport range last", []Expr{tTCP, tDport(PortRange{70, 80})}, none, true},
		{"dport range below", []Expr{tTCP, tDport(PortRange{81, 90})}, none, false},
		{"dport range above", []Expr{tTCP, tDport(PortRange{70, 79})}, none, false},
		{"dport set", []Expr{tTCP, tDport(PortRange{22, 22}, PortRange{79, 81}, PortRange{443, 443})}, none, true},
		{"dport set miss", []Expr{tTCP, tDport(PortRange{22, 22}, PortRange{81, 90})}, none, false},
		{"dport != single", []Expr{tTCP, Ports{Field: DstPort, Ranges: []PortRange{{80, 80}}, Neg: true}}, none, false},
		{"dport != range", []Expr{tTCP, Ports{Field: DstPort, Ranges: []PortRange{{81, 100}}, Neg: true}}, none, true},
		{"dport != set", []Expr{tTCP, Ports{Field: DstPort, Ranges: []PortRange{{1, 10}, {80, 80}}, Neg: true}}, none, false},
		{"dport 0-65535", []Expr{tTCP, tDport(PortRange{0, 65535})}, dport(0), true},
		{"sport", []Expr{tTCP, Ports{Field: SrcPort, Ranges: []PortRange{{40000, 40000}}}}, none, true},
		{"sport is not dport", []Expr{tTCP, Ports{Field: SrcPort, Ranges: []PortRange{{80, 80}}}}, none, false},
		{"udp dport", []Expr{tUDP, tDport(PortRange{53, 53})}, with(proto(17), dport(53)), true},
		{"udp dport of tcp", []Expr{tUDP, tDport(PortRange{80, 80})}, none, false},
		// Addresses.
		{"saddr /8", []Expr{v4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: pfx("10.0.0.0/8")}}, none, true},
		{"saddr /9 outside", []Expr{v4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: pfx("10.128.0.0/9")}}, none, false},
		{"daddr /32", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("10.0.0.2/32")}}, none, true},
		{"daddr is not saddr", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("10.0.0.1/32")}}, none, false},
		{"daddr unmasked prefix", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("10.0.0.3/31")}}, none, true},
		{"daddr set", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("192.168.0.0/16", "10.0.0.2/32")}}, none, true},
		{"daddr != set", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("192.168.0.0/16", "10.0.0.2/32"), Neg: true}}, none, false},
		{"daddr != other", []Expr{v4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: pfx("192.168.0.0/16"), Neg: true}}, none, true},
		{"ip6 saddr /64", []Expr{v6m, Addrs{Field: SrcAddr, Family: IPv6, Prefixes: pfx("fd00::/64")}}, v6, true},
		{"ip6 saddr /128 other", []Expr{v6m, Addrs{Field: SrcAddr, Family: IPv6, Prefixes: pfx("fd00::2/128")}}, v6, false},
		{"0.0.0.0/0", []Expr{v4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: pfx("0.0.0.0/0")}}, none, true},
		// Interval sets.
		{"saddr @s4 (cidr)", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, none, true},
		{"saddr @s4 below", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("9.255.255.255"), false},
		{"saddr @s4 range first", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("10.1.0.5"), true},
		{"saddr @s4 range last", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("10.1.0.9"), true},
		{"saddr @s4 between", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("10.1.0.10"), false},
		{"saddr @s4 after cidr", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("10.0.0.4"), false},
		{"saddr @s4 top", []Expr{v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}}, src("255.255.255.255"), true},
		{"daddr != @s4", []Expr{v4, AddrInSet{Field: DstAddr, Family: IPv4, Set: "s4", Neg: true}}, dst("11.0.0.1"), true},
		{"daddr != @s4 member", []Expr{v4, AddrInSet{Field: DstAddr, Family: IPv4, Set: "s4", Neg: true}}, none, false},
		{"ip6 daddr @s6", []Expr{v6m, AddrInSet{Field: DstAddr, Family: IPv6, Set: "s6"}}, with(v6, dst("fd00::1")), true},
		{"ip6 daddr @s6 miss", []Expr{v6m, AddrInSet{Field: DstAddr, Family: IPv6, Set: "s6"}}, v6, false},
		// Address-protocol-port sets.
		{"daddr.proto.dport @np4", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}}, none, true},
		{"@np4 other proto", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}}, proto(17), false},
		{"@np4 udp member", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}}, with(proto(17), dport(53)), true},
		{"@np4 other port", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}}, dport(81), false},
		{"@np4 other addr", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}}, dst("10.0.0.3"), false},
		{"saddr.proto.sport @np4", []Expr{v4, AddrPortInSet{Field: SrcAddr, Family: IPv4, Set: "np4"}}, none, true},
		{"saddr.proto.sport @np4 is not dport", []Expr{v4, AddrPortInSet{Field: SrcAddr, Family: IPv4, Set: "np4"}}, sport(80), false},
		{"!= @np4 member", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4", Neg: true}}, none, false},
		{"!= @np4 other", []Expr{v4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4", Neg: true}}, dport(81), true},
		{"@np4 icmp reads type.code", []Expr{v4, AddrPortInSet{Field: SrcAddr, Family: IPv4, Set: "np4"}}, with(icmp(8, 0), src("10.0.0.9")), true},
		{"@np6", []Expr{v6m, AddrPortInSet{Field: DstAddr, Family: IPv6, Set: "np6"}}, v6, true},
		{"@np6 src udp", []Expr{v6m, AddrPortInSet{Field: SrcAddr, Family: IPv6, Set: "np6"}}, with(v6, proto(17)), true},
		{"@np6 src tcp", []Expr{v6m, AddrPortInSet{Field: SrcAddr, Family: IPv6, Set: "np6"}}, v6, false},
		// Marks and conntrack.
		{"mark", []Expr{Mark{Mask: 0xff00, Value: 0x100}}, mark(0xf0001ff), true},
		{"mark other bits", []Expr{Mark{Mask: 0xff00, Value: 0x100}}, mark(0x200), false},
		{"mark zero", []Expr{Mark{Mask: 0x10, Value: 0}}, mark(0x20), true},
		{"ct state new", []Expr{CTStateIn{States: CTNew}}, none, true},
		{"ct state established,related", []Expr{CTStateIn{States: CTEstablished | CTRelated}}, none, false},
		{"ct state established,related of related", []Expr{CTStateIn{States: CTEstablished | CTRelated}}, ct(CTRelated), true},
		{"ct state untracked", []Expr{CTStateIn{States: CTUntracked}}, ct(CTUntracked), true},
		{"ct state of zero", []Expr{CTStateIn{States: CTNew | CTEstablished | CTRelated | CTInvalid | CTUntracked}}, ct(0), false},
		// ICMP.
		{"icmp type", []Expr{L4Proto{Proto: 1}, ICMP{Type: 8}}, icmp(8, 0), true},
		{"icmp type of tcp", []Expr{L4Proto{Proto: 1}, ICMP{Type: 8}}, none, false},
		{"icmp type other", []Expr{L4Proto{Proto: 1}, ICMP{Type: 0}}, icmp(8, 0), false},
		{"icmp type !=", []Expr{L4Proto{Proto: 1}, ICMP{Type: 0, Neg: true}}, icmp(8, 0), true},
		{"icmp type . code", []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1}}, icmp(3, 1), true},
		{"icmp type . code other code", []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1}}, icmp(3, 3), false},
		{"icmp type . code != same", []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1, Neg: true}}, icmp(3, 1), false},
		{"icmp type . code != other code", []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1, Neg: true}}, icmp(3, 3), true},
		{"icmp type . code != other type", []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1, Neg: true}}, icmp(11, 1), true},
		{"icmpv6 type", []Expr{L4Proto{Proto: 58}, ICMP{V6: true, Type: 128}}, icmp6(128, 0), true},
		{"icmpv6 type . code", []Expr{L4Proto{Proto: 58}, ICMP{V6: true, Type: 1, HasCode: true, Code: 4}}, icmp6(1, 4), true},
		// Several matches: all must hold.
		{"all hold", []Expr{IfName{Name: "eth0"}, v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}, tTCP, tDport(PortRange{80, 80}), CTStateIn{States: CTNew}}, none, true},
		{"last fails", []Expr{IfName{Name: "eth0"}, v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}, tTCP, tDport(PortRange{80, 80}), CTStateIn{States: CTEstablished}}, none, false},
		{"first fails", []Expr{IfName{Name: "eth1"}, v4, tTCP, tDport(PortRange{80, 80})}, none, false},
		{"negations", []Expr{IfName{Name: "eth1", Neg: true}, v4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4", Neg: true}, tTCP}, src("11.0.0.1"), true},
		{"empty rule", nil, none, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := tPkt()
			c.pkt(&p)
			chain := tBase("c", p.Hook, 0, PolicyDrop, tRule(append(slices.Clone(c.exprs), tAccept)...))
			f := traceFake(t, sets, chain)
			res := f.Trace(p)
			want := TraceResult{Verdict: Drop, Mark: p.Mark, CTState: p.CTState}
			if c.match {
				want = TraceResult{Verdict: Accept, Mark: p.Mark, CTState: p.CTState, Path: []string{"c:0"}}
			}
			if !reflect.DeepEqual(res, want) {
				t.Errorf("rule %q, packet %+v:\n got  %+v\n want %+v", chain.Rules[0], p, res, want)
			}
		})
	}
}

// TestTraceVerdicts checks jump, goto, return, the end of chains, policies
// and verdicts, with the rules each packet matched.
func TestTraceVerdicts(t *testing.T) {
	count := Counter{}
	cases := []struct {
		name    string
		chains  []Chain
		verdict VerdictKind
		path    string
		counted string
	}{
		{"policy accept", []Chain{tBase("b", HookInput, 0, PolicyAccept, tRule(tUDP, tDrop))}, Accept, "", ""},
		{"policy drop", []Chain{tBase("b", HookInput, 0, PolicyDrop, tRule(tUDP, tAccept))}, Drop, "", ""},
		{"no policy is accept", []Chain{tBase("b", HookInput, 0, "", tRule(tUDP))}, Accept, "", ""},
		{"first verdict wins", []Chain{tBase("b", HookInput, 0, PolicyAccept, tRule(count), tRule(tTCP, tDrop), tRule(tAccept))}, Drop, "b:0 b:1", "b:0"},
		{"nothing after a verdict runs", []Chain{tBase("b", HookInput, 0, PolicyAccept, tRule(tDrop, count))}, Drop, "b:0", ""},
		{"statements before a failing match run", []Chain{tBase("b", HookInput, 0, PolicyAccept,
			tRule(count, tUDP, count, tDrop), tRule(count))}, Accept, "b:1", "b:0 b:1"},
		{"jump then fall off: continue after the jump", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(count), tRule(tAccept)),
			tChain("a", tRule(count), tRule(tUDP, tDrop)),
		}, Accept, "b:0 a:0 b:1 b:2", "a:0 b:1"},
		{"jump then return", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(tAccept)),
			tChain("a", tRule(tTCP, tReturn), tRule(tDrop)),
		}, Accept, "b:0 a:0 b:1", ""},
		{"drop in a jumped-to chain", []Chain{
			tBase("b", HookInput, 0, PolicyAccept, tRule(tJump("a")), tRule(count)),
			tChain("a", tRule(tDrop)),
		}, Drop, "b:0 a:0", ""},
		{"accept in a jumped-to chain ends the base chain", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(tDrop)),
			tChain("a", tRule(tAccept)),
		}, Accept, "b:0 a:0", ""},
		{"goto then fall off: base policy", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tGoto("a")), tRule(tAccept)),
			tChain("a", tRule(count)),
		}, Drop, "b:0 a:0", "a:0"},
		{"goto then fall off: base policy accept, rest of base not run", []Chain{
			tBase("b", HookInput, 0, PolicyAccept, tRule(tGoto("a")), tRule(tDrop)),
			tChain("a", tRule(count)),
		}, Accept, "b:0 a:0", "a:0"},
		{"goto then return: base policy", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tGoto("a")), tRule(tAccept)),
			tChain("a", tRule(tReturn), tRule(tAccept)),
		}, Drop, "b:0 a:0", ""},
		{"return in the base chain: policy", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(count), tRule(tReturn), tRule(tAccept)),
		}, Drop, "b:0 b:1", "b:0"},
		{"jump, goto, return: back to the jumping chain", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(count, tAccept)),
			tChain("a", tRule(tGoto("g")), tRule(tDrop)),
			tChain("g", tRule(tReturn)),
		}, Accept, "b:0 a:0 g:0 b:1", "b:1"},
		{"jump, jump, goto, fall off: back to the second jumper", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(tDrop)),
			tChain("a", tRule(tJump("c")), tRule(count, tAccept)),
			tChain("c", tRule(tGoto("g")), tRule(tDrop)),
			tChain("g", tRule(count)),
		}, Accept, "b:0 a:0 c:0 g:0 a:1", "g:0 a:1"},
		{"goto, jump, return: back into the goto target", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tGoto("a")), tRule(tAccept)),
			tChain("a", tRule(tJump("c")), tRule(count, tAccept)),
			tChain("c", tRule(tReturn)),
		}, Accept, "b:0 a:0 c:0 a:1", "a:1"},
		{"the same chain jumped to twice", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(tJump("a")), tRule(tAccept)),
			tChain("a", tRule(count)),
		}, Accept, "b:0 a:0 b:1 a:0 b:2", "a:0 a:0"},
		{"non-matching jump is skipped", []Chain{
			tBase("b", HookInput, 0, PolicyAccept, tRule(tUDP, tJump("a")), tRule(count)),
			tChain("a", tRule(tDrop)),
		}, Accept, "b:1", "b:1"},
		{"empty chains", []Chain{
			tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("a")), tRule(tGoto("a"))),
			tChain("a"),
		}, Drop, "b:0 b:1", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := traceFake(t, nil, c.chains...)
			res := f.Trace(tPkt())
			if res.Verdict != c.verdict || strings.Join(res.Path, " ") != c.path || strings.Join(res.Counted, " ") != c.counted {
				t.Errorf("got verdict %v path %q counted %q, want %v %q %q", res.Verdict, strings.Join(res.Path, " "),
					strings.Join(res.Counted, " "), c.verdict, c.path, c.counted)
			}
		})
	}
}

// TestTraceBaseChains checks several base chains of one hook: priority
// order, accept going on to the next chain, drop ending the hook, and the
// mark carried from one to the next; and that other hooks' chains do not
// run.
func TestTraceBaseChains(t *testing.T) {
	const bit = 0x10000000
	build := func(rawRules, mangleRules []Rule) *Fake {
		// Created in reverse name and priority order, to check the order
		// comes from the priorities.
		return traceFake(t, nil,
			tBase("a-mangle", HookPrerouting, PriorityMangle, PolicyAccept, mangleRules...),
			tBase("z-raw", HookPrerouting, PriorityRaw, PolicyAccept, rawRules...),
			tBase("in", HookInput, 0, PolicyDrop, tRule(count0())),
			tBase("out", HookOutput, PriorityRaw, PolicyDrop),
		)
	}
	p := tPkt()
	p.Hook = HookPrerouting

	f := build([]Rule{tRule(tTCP, SetMarkBits{Bits: bit}, tAccept)}, []Rule{tRule(Mark{Mask: bit, Value: bit}, Log{Prefix: "marked"}, tDrop)})
	res := f.Trace(p)
	want := TraceResult{Verdict: Drop, Mark: bit, CTState: CTNew, Logged: []string{"marked"}, Path: []string{"z-raw:0", "a-mangle:0"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("mark set at -300, dropped at -150:\n got  %+v\n want %+v", res, want)
	}

	f = build([]Rule{tRule(tDrop)}, []Rule{tRule(count0())})
	if res := f.Trace(p); res.Verdict != Drop || !slices.Equal(res.Path, []string{"z-raw:0"}) || len(res.Counted) != 0 {
		t.Errorf("a drop at -300 must end the hook: %+v", res)
	}

	f = build(nil, []Rule{tRule(Mark{Mask: bit, Value: bit}, tDrop), tRule(count0())})
	if res := f.Trace(p); res.Verdict != Accept || !slices.Equal(res.Counted, []string{"a-mangle:1"}) {
		t.Errorf("policy accept at -300 then -150: %+v", res)
	}

	// Drop policy on the first chain; the second does not run.
	f = traceFake(t, nil,
		tBase("first", HookForward, -10, PolicyDrop, tRule(tUDP, tAccept)),
		tBase("second", HookForward, 10, PolicyAccept, tRule(count0())))
	p.Hook = HookForward
	if res := f.Trace(p); res.Verdict != Drop || len(res.Counted) != 0 {
		t.Errorf("drop policy of the first chain: %+v", res)
	}
	p.Proto = 17
	if res := f.Trace(p); res.Verdict != Accept || !slices.Equal(res.Counted, []string{"second:0"}) {
		t.Errorf("accepted by the first chain, counted by the second: %+v", res)
	}

	// No base chain at the hook, or no table: accept, nothing changed.
	p.Hook = HookPostrouting
	if res := f.Trace(p); !reflect.DeepEqual(res, TraceResult{Verdict: Accept, Mark: p.Mark, CTState: p.CTState}) {
		t.Errorf("no chain at the hook: %+v", res)
	}
	if res := NewFake().Trace(p); res.Verdict != Accept {
		t.Errorf("no table: %+v", res)
	}
}

func count0() Counter { return Counter{} }

// TestTraceMarks sets and clears mark bits in one chain and tests them in
// others, within a hook and across hooks.
func TestTraceMarks(t *testing.T) {
	const allow, pass = 0x10000000, 0x20000000
	f := traceFake(t, nil,
		tBase("raw-pre", HookPrerouting, PriorityRaw, PolicyAccept,
			tRule(ClearMarkBits{Bits: allow | pass}),
			tRule(tJump("policy")),
			tRule(Mark{Mask: pass, Value: pass}, ClearMarkBits{Bits: pass}, tAccept)),
		tChain("policy",
			tRule(tTCP, tDport(PortRange{80, 80}), SetMarkBits{Bits: allow}, tReturn),
			tRule(tTCP, tDport(PortRange{81, 81}), SetMarkBits{Bits: pass | 0x1}, tReturn),
			tRule(SetMarkBits{Bits: 0x2})),
		tBase("filter-in", HookInput, 0, PolicyDrop,
			tRule(Mark{Mask: allow, Value: allow}, tAccept),
			tRule(Mark{Mask: 0x3, Value: 0x1}, Log{Prefix: "passed"}, tAccept)),
	)
	cases := []struct {
		dport   uint16
		mark    uint32 // the packet's mark on arrival
		verdict VerdictKind
		endMark uint32
		logged  []string
	}{
		{80, 0, Accept, allow, nil},
		{80, pass | 0x4, Accept, allow | 0x4, nil},
		{81, allow, Accept, 0x1, []string{"passed"}},
		{82, allow, Drop, 0x2, nil},
		{82, 0x1, Drop, 0x3, nil},
	}
	for _, c := range cases {
		p := tPkt()
		p.DstPort, p.Mark = c.dport, c.mark
		res := f.TraceHooks(p, HookPrerouting, HookInput)
		if res.Verdict != c.verdict || res.Mark != c.endMark || !slices.Equal(res.Logged, c.logged) {
			t.Errorf("dport %d mark %#x: got %v mark %#x logged %q, want %v %#x %q (path %v)", c.dport, c.mark,
				res.Verdict, res.Mark, res.Logged, c.verdict, c.endMark, c.logged, res.Path)
		}
	}
}

// TestTraceConntrack checks what ct state expressions see and when
// notrack takes effect.
func TestTraceConntrack(t *testing.T) {
	untracked := CTStateIn{States: CTUntracked}
	f := traceFake(t, nil,
		tBase("raw-pre", HookPrerouting, PriorityRaw, PolicyAccept,
			tRule(CTStateIn{States: CTInvalid}, Log{Prefix: "raw-pre sees invalid"}),
			tRule(untracked, Log{Prefix: "raw-pre sees untracked"}),
			tRule(CTStateIn{States: CTNew | CTEstablished}, Log{Prefix: "raw-pre sees tracked"}),
			tRule(tTCP, tDport(PortRange{1, 1}), Notrack{}),
			tRule(untracked, Log{Prefix: "raw-pre sees untracked after notrack"})),
		tBase("at-conntrack", HookPrerouting, conntrackPriority, PolicyAccept,
			tRule(CTStateIn{States: CTNew}, Log{Prefix: "-200 sees new"})),
		tBase("mangle-pre", HookPrerouting, PriorityMangle, PolicyAccept,
			tRule(tTCP, tDport(PortRange{2, 2}), Notrack{}),
			tRule(untracked, Log{Prefix: "mangle sees untracked"}),
			tRule(CTStateIn{States: CTNew | CTEstablished}, Log{Prefix: "mangle sees tracked"}),
			tRule(CTStateIn{States: CTInvalid}, Log{Prefix: "mangle sees invalid"})),
		tBase("filter-in", HookInput, 0, PolicyAccept,
			tRule(untracked, Log{Prefix: "input sees untracked"}),
			tRule(tTCP, tDport(PortRange{3, 3}), Notrack{}),
			tRule(untracked, Log{Prefix: "input sees untracked after notrack"})),
		tBase("raw-out", HookOutput, PriorityRaw, PolicyAccept,
			tRule(CTStateIn{States: CTInvalid}, Log{Prefix: "raw-out sees invalid"}),
			tRule(tTCP, tDport(PortRange{1, 1}), Notrack{})),
		tBase("filter-out", HookOutput, 0, PolicyAccept,
			tRule(untracked, Log{Prefix: "output sees untracked"}),
			tRule(CTStateIn{States: CTNew}, Log{Prefix: "output sees new"})),
	)
	cases := []struct {
		name    string
		hooks   []Hook
		iif     string
		dport   uint16
		state   CTState
		logged  string
		notrack bool
		end     CTState
	}{
		{"raw sees no entry; conntrack's state after", []Hook{HookPrerouting, HookInput}, "eth0", 80, CTNew,
			"raw-pre sees invalid|-200 sees new|mangle sees tracked", false, CTNew},
		{"notrack in raw: untracked from then on", []Hook{HookPrerouting, HookInput}, "eth0", 1, CTNew,
			"raw-pre sees invalid|raw-pre sees untracked after notrack|mangle sees untracked|input sees untracked|input sees untracked after notrack", true, CTUntracked},
		{"notrack after conntrack: no effect", []Hook{HookPrerouting, HookInput}, "eth0", 2, CTEstablished,
			"raw-pre sees invalid|mangle sees tracked", true, CTEstablished},
		{"notrack after conntrack on an invalid packet: effect", []Hook{HookPrerouting, HookInput}, "eth0", 2, CTInvalid,
			"raw-pre sees invalid|mangle sees untracked|input sees untracked|input sees untracked after notrack", true, CTUntracked},
		{"notrack at input: no effect on a tracked packet", []Hook{HookPrerouting, HookInput}, "eth0", 3, CTNew,
			"raw-pre sees invalid|-200 sees new|mangle sees tracked", true, CTNew},
		{"notrack at input on an invalid packet", []Hook{HookInput}, "eth0", 3, CTInvalid,
			"input sees untracked after notrack", true, CTUntracked},
		{"arriving untracked", []Hook{HookPrerouting, HookInput}, "eth0", 80, CTUntracked,
			"raw-pre sees untracked|raw-pre sees untracked after notrack|mangle sees untracked|input sees untracked|input sees untracked after notrack", false, CTUntracked},
		{"loopback keeps its entry from output", []Hook{HookPrerouting}, "lo", 1, CTEstablished,
			"raw-pre sees tracked|mangle sees tracked", true, CTEstablished},
		{"output: raw before conntrack", []Hook{HookOutput, HookPostrouting}, "", 80, CTNew,
			"raw-out sees invalid|output sees new", false, CTNew},
		{"output: notrack in raw", []Hook{HookOutput, HookPostrouting}, "", 1, CTNew,
			"raw-out sees invalid|output sees untracked", true, CTUntracked},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := tPkt()
			p.IIF, p.DstPort, p.CTState = c.iif, c.dport, c.state
			res := f.TraceHooks(p, c.hooks...)
			if got := strings.Join(res.Logged, "|"); got != c.logged || res.Notrack != c.notrack || res.CTState != c.end {
				t.Errorf("got logged %q notrack %v state %v\nwant       %q %v %v", got, res.Notrack, res.CTState, c.logged, c.notrack, c.end)
			}
		})
	}
}

// TestTraceHooksStopsAtDrop checks that TraceHooks ends at the first hook
// that drops, and merges the results of the hooks it ran.
func TestTraceHooksStopsAtDrop(t *testing.T) {
	f := traceFake(t, nil,
		tBase("pre", HookPrerouting, 0, PolicyAccept, tRule(count0(), Log{Prefix: "pre"}, SetMarkBits{Bits: 1}), tRule(tUDP, tDrop)),
		tBase("fwd", HookForward, 0, PolicyAccept, tRule(count0(), IfName{Out: true, Name: "eth1"}, Log{Prefix: "fwd"})),
		tBase("post", HookPostrouting, 0, PolicyAccept, tRule(IfName{Name: "eth0"}, Mark{Mask: 1, Value: 1}, Log{Prefix: "post"})),
	)
	p := tPkt()
	p.OIF = "eth1"
	res := f.TraceHooks(p, HookPrerouting, HookForward, HookPostrouting)
	want := TraceResult{Verdict: Accept, Mark: 1, CTState: CTNew, Logged: []string{"pre", "fwd", "post"},
		Counted: []string{"pre:0", "fwd:0"}, Path: []string{"pre:0", "fwd:0", "post:0"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("forwarded:\n got  %+v\n want %+v", res, want)
	}
	p.Proto = 17
	res = f.TraceHooks(p, HookPrerouting, HookForward, HookPostrouting)
	want = TraceResult{Verdict: Drop, Mark: 1, CTState: CTNew, Logged: []string{"pre"}, Counted: []string{"pre:0"}, Path: []string{"pre:0", "pre:1"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("dropped at prerouting:\n got  %+v\n want %+v", res, want)
	}
	if res := f.TraceHooks(p); !reflect.DeepEqual(res, TraceResult{Verdict: Accept, Mark: p.Mark, CTState: p.CTState}) {
		t.Errorf("no hooks: %+v", res)
	}
}

// TestTraceDepth checks the kernel's limit on chain nesting: 15 jumps or
// gotos deep is fine, 16 would not load in the kernel (EMLINK) and makes
// Trace panic, as does a jump loop the Fake accepted.
func TestTraceDepth(t *testing.T) {
	nest := func(depth int, v func(string) Verdict) []Chain {
		chains := []Chain{tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("c1")))}
		for i := 1; i <= depth; i++ {
			if i < depth {
				chains = append(chains, tChain(fmt.Sprint("c", i), tRule(v(fmt.Sprint("c", i+1)))))
			} else {
				chains = append(chains, tChain(fmt.Sprint("c", i), tRule(tAccept)))
			}
		}
		return chains
	}
	for _, v := range []func(string) Verdict{tJump, tGoto} {
		f := traceFake(t, nil, nest(15, v)...)
		if res := f.Trace(tPkt()); res.Verdict != Accept || len(res.Path) != 16 {
			t.Errorf("15 deep: %+v", res)
		}
		f = traceFake(t, nil, nest(16, v)...)
		if msg := tracePanic(f, tPkt()); !strings.Contains(msg, "EMLINK") {
			t.Errorf("16 deep: panic %q", msg)
		}
	}
	f := traceFake(t, nil, tBase("b", HookInput, 0, PolicyDrop, tRule(tJump("x"))), tChain("x"), tChain("y", tRule(tGoto("x"))))
	tx := &Transaction{}
	tx.AddRule("x", tRule(tUDP, tJump("y"))) // a loop, for udp only
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if res := f.Trace(tPkt()); res.Verdict != Drop {
		t.Errorf("tcp does not take the loop: %+v", res)
	}
	p := tPkt()
	p.Proto = 17
	if msg := tracePanic(f, p); !strings.Contains(msg, "loops") {
		t.Errorf("udp loops: panic %q", msg)
	}
}

func tracePanic(f *Fake, p Packet) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f.Trace(p)
	return ""
}

func TestTraceBadPackets(t *testing.T) {
	f := traceFake(t, nil, tBase("b", HookInput, 0, PolicyAccept))
	for name, p := range map[string]Packet{
		"mixed families": {Hook: HookInput, Src: nlAddr("10.0.0.1"), Dst: nlAddr("fd00::1")},
		"no source":      {Hook: HookInput, Dst: nlAddr("fd00::1")},
		"no hook":        {Src: nlAddr("10.0.0.1"), Dst: nlAddr("10.0.0.2")},
	} {
		if msg := tracePanic(f, p); msg == "<nil>" {
			t.Errorf("%s: no panic", name)
		}
	}
}

// TestTraceDoesNotChangeTheFake checks that tracing leaves the Fake alone.
func TestTraceDoesNotChangeTheFake(t *testing.T) {
	f := traceFake(t, []traceSet{{Set: Set{Name: "s", Type: SetIPv4}, els: []Interval{iv("10.0.0.0/8")}}},
		tBase("b", HookInput, 0, PolicyAccept, tRule(count0(), SetMarkBits{Bits: 1}, Notrack{}, Log{}, tJump("c"))),
		tChain("c", tRule(NFProto{Family: IPv4}, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s"}, tDrop)))
	before, n := f.Dump(), len(f.Transactions)
	for range 3 {
		if res := f.Trace(tPkt()); res.Verdict != Drop || res.Mark != 1 || !res.Notrack || !slices.Equal(res.Logged, []string{""}) {
			t.Fatalf("%+v", res)
		}
	}
	if f.Dump() != before || len(f.Transactions) != n {
		t.Error("Trace changed the Fake")
	}
}
