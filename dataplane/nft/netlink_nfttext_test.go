package nft

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// nftTextCase is a rule and what `nft list` must print for it.
type nftTextCase struct {
	rule Rule
	want []string // substrings of the rule's line
}

// nftTextCases cover every Expr type and variant. The expected text is what
// nft 1.0.6 prints for the same rule written with nft itself (nft drops
// "meta nfproto"/"meta l4proto" before a header match of that family or
// protocol, and uses symbolic ICMP names).
func nftTextCases() []nftTextCase {
	udp := L4Proto{Proto: 17}
	icmp, icmp6 := L4Proto{Proto: 1}, L4Proto{Proto: 58}
	r := func(want string, exprs ...Expr) nftTextCase {
		return nftTextCase{rule: Rule{Exprs: exprs, Comment: "case " + want}, want: []string{want}}
	}
	return []nftTextCase{
		r(`iifname "veth0"`, IfName{Name: "veth0"}),
		r(`oifname != "veth0"`, IfName{Out: true, Name: "veth0", Neg: true}),
		r(`meta nfproto ipv4`, nlV4),
		r(`meta nfproto ipv6`, nlV6),
		r(`meta l4proto tcp`, nlTCP),
		r(`meta l4proto != udp`, L4Proto{Proto: 17, Neg: true}),
		r(`tcp dport 12211`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{12211, 12211}}}),
		r(`tcp dport != 12211`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{12211, 12211}}, Neg: true}),
		r(`udp sport 1000-2000`, udp, Ports{Field: SrcPort, Ranges: []PortRange{{1000, 2000}}}),
		r(`tcp sport != 1000-2000`, nlTCP, Ports{Field: SrcPort, Ranges: []PortRange{{1000, 2000}}, Neg: true}),
		r(`tcp dport { 22, 80-90, 443 }`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{443, 443}, {22, 22}, {80, 90}}}),
		r(`tcp dport != { 22, 80-90, 443 }`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{22, 22}, {80, 90}, {443, 443}}, Neg: true}),
		r(`tcp dport { 0-10, 20 }`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{0, 10}, {20, 20}}}),
		r(`tcp dport { 100, 65000-65535 }`, nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{100, 100}, {65000, 65535}}}),
		r(`tcp dport @p-test`, nlTCP, Ports{Field: DstPort, Ranges: testPorts, Set: "p-test"}),
		r(`udp sport != @p-test`, udp, Ports{Field: SrcPort, Ranges: testPorts, Neg: true, Set: "p-test"}),
		r(`ip saddr 10.0.0.0/8`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("10.0.0.0/8")}}),
		r(`ip daddr != 10.1.2.3`, nlV4, Addrs{Field: DstAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("10.1.2.3/32")}, Neg: true}),
		r(`ip saddr 10.0.0.0/9`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("10.0.0.0/9")}}),
		r(`ip saddr 0.0.0.0/0`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("0.0.0.0/0")}}),
		r(`ip6 saddr fd00::/64`, nlV6, Addrs{Field: SrcAddr, Family: IPv6, Prefixes: []netip.Prefix{nlPfx("fd00::/64")}}),
		r(`ip6 daddr 2001:db8::1`, nlV6, Addrs{Field: DstAddr, Family: IPv6, Prefixes: []netip.Prefix{nlPfx("2001:db8::1/128")}}),
		r(`ip6 daddr != 2001:db8::/33`, nlV6, Addrs{Field: DstAddr, Family: IPv6, Prefixes: []netip.Prefix{nlPfx("2001:db8::/33")}, Neg: true}),
		r(`ip saddr { 10.0.0.0/8, 192.168.1.1 }`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("192.168.1.1/32"), nlPfx("10.0.0.0/8")}}),
		r(`ip saddr != { 10.0.0.0/8, 192.168.1.1 }`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("10.0.0.0/8"), nlPfx("192.168.1.1/32")}, Neg: true}),
		r(`ip saddr { 0.0.0.0/8, 255.255.255.255 }`, nlV4, Addrs{Field: SrcAddr, Family: IPv4, Prefixes: []netip.Prefix{nlPfx("0.0.0.0/8"), nlPfx("255.255.255.255/32")}}),
		r(`ip6 daddr { 2001:db8::1, fd00::/64 }`, nlV6, Addrs{Field: DstAddr, Family: IPv6, Prefixes: []netip.Prefix{nlPfx("fd00::/64"), nlPfx("2001:db8::1/128")}}),
		r(`ip saddr @s4-test`, nlV4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4-test"}),
		r(`ip daddr != @s4-test`, nlV4, AddrInSet{Field: DstAddr, Family: IPv4, Set: "s4-test", Neg: true}),
		r(`ip6 saddr @s6-test`, nlV6, AddrInSet{Field: SrcAddr, Family: IPv6, Set: "s6-test"}),
		r(`ip daddr . meta l4proto . th dport @np4-test`, nlV4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4-test"}),
		r(`ip saddr . meta l4proto . th sport != @np4-test`, nlV4, AddrPortInSet{Field: SrcAddr, Family: IPv4, Set: "np4-test", Neg: true}),
		r(`ip6 daddr . meta l4proto . th dport != @np6-test`, nlV6, AddrPortInSet{Field: DstAddr, Family: IPv6, Set: "np6-test", Neg: true}),
		r(`ip6 saddr . meta l4proto . th sport @np6-test`, nlV6, AddrPortInSet{Field: SrcAddr, Family: IPv6, Set: "np6-test"}),
		r(`meta mark & 0x0000ff00 == 0x00000100`, Mark{Mask: 0xff00, Value: 0x100}),
		r(`ct state established,related`, CTStateIn{States: CTEstablished | CTRelated}),
		r(`ct state new`, CTStateIn{States: CTNew}),
		r(`ct state untracked`, CTStateIn{States: CTUntracked}),
		r(`ct state invalid`, CTStateIn{States: CTInvalid}),
		r(`icmp type echo-request`, icmp, ICMP{Type: 8}),
		r(`icmp type != echo-request`, icmp, ICMP{Type: 8, Neg: true}),
		r(`icmp type destination-unreachable icmp code host-unreachable`, icmp, ICMP{Type: 3, HasCode: true, Code: 1}),
		r(`icmp type . icmp code != { destination-unreachable . host-unreachable }`, icmp, ICMP{Type: 3, HasCode: true, Code: 1, Neg: true}),
		r(`icmpv6 type echo-request`, icmp6, ICMP{V6: true, Type: 128}),
		r(`icmpv6 type destination-unreachable icmpv6 code port-unreachable`, icmp6, ICMP{V6: true, Type: 1, HasCode: true, Code: 4}),
		r(`icmpv6 type . icmpv6 code != { destination-unreachable . port-unreachable }`, icmp6, ICMP{V6: true, Type: 1, HasCode: true, Code: 4, Neg: true}),
		r(`counter packets 0 bytes 0`, Counter{}),
		r(`log prefix "hello: "`, Log{Prefix: "hello: "}),
		r(`log`, Log{}),
		r(`meta mark set meta mark | 0x00000100`, SetMarkBits{Bits: 0x100}),
		r(`meta mark set meta mark & 0xfffffeff`, ClearMarkBits{Bits: 0x100}),
		r(`notrack`, Notrack{}),
		r(`accept`, Verdict{Kind: Accept}),
		r(`drop`, Verdict{Kind: Drop}),
		r(`return`, Verdict{Kind: Return}),
		r(`jump target`, Verdict{Kind: Jump, Chain: "target"}),
		r(`goto target`, Verdict{Kind: Goto, Chain: "target"}),
		{
			rule: Rule{Exprs: []Expr{IfName{Name: "veth0"}, nlV4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4-test"},
				nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{12211, 12211}}}, Counter{}, Notrack{}}, Comment: "combined"},
			want: []string{`iifname "veth0"`, `ip saddr @s4-test`, `tcp dport 12211`, `counter packets`, `notrack`},
		},
	}
}

// testPorts is the content of the port set "p-test" of TestNetlinkNftText.
var testPorts = []PortRange{{22, 22}, {80, 90}, {443, 443}, {65000, 65535}}

// TestNetlinkNftText applies a transaction using every expression and
// checks that nft lists each rule as the expected nft text, with its
// "ut:<hash>" comment, and the sets and base chain as expected.
func TestNetlinkNftText(t *testing.T) {
	n, ns := kernelNetlink(t)
	cases := nftTextCases()
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "s4-test", Type: SetIPv4, Comment: "v4 set"})
	tx.AddSet(Set{Name: "s6-test", Type: SetIPv6})
	tx.AddElements("s4-test", []Interval{PrefixInterval(nlPfx("10.0.0.0/8")), nlIv("192.168.0.1", "192.168.0.1"), PrefixInterval(nlPfx("240.0.0.0/4"))})
	tx.AddElements("s6-test", []Interval{PrefixInterval(nlPfx("fd00::/64")), PrefixInterval(nlPfx("ffff::/16"))})
	tx.AddSet(Set{Name: "np4-test", Type: SetIPv4ProtoPort, Comment: "named ports"})
	tx.AddSet(Set{Name: "np6-test", Type: SetIPv6ProtoPort})
	tx.AddTuples("np4-test", []AddrPort{ap("10.0.0.1", 6, 80), ap("10.0.0.1", 17, 53), ap("192.168.0.1", 132, 65535)})
	tx.AddTuples("np6-test", []AddrPort{ap("fd00::1", 6, 443)})
	tx.AddSet(Set{Name: "p-test", Type: SetPorts, Ports: testPorts})
	tx.AddChain(Chain{Name: "target"})
	tx.AddChain(Chain{Name: "raw-pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "x"})
	for _, c := range cases {
		tx.AddRule("x", c.rule)
	}
	nlRun(t, n, tx)

	out := ns.MustExec(t, "nft", "list", "table", "inet", TableName)
	t.Logf("nft list table inet %s:\n%s", TableName, out)
	lines := strings.Split(out, "\n")
	for i, c := range cases {
		comment := fmt.Sprintf(`comment "%s"`, nftComment(c.rule.StoredComment()))
		var line string
		for _, l := range lines {
			if strings.Contains(l, comment) {
				line = strings.TrimSpace(l)
			}
		}
		if line == "" {
			t.Errorf("case %d (%s): no rule with %s in the listing", i, c.rule, comment)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("case %d: rule %q\n  nft prints: %s\n  missing:    %s", i, c.rule, line, w)
			}
		}
	}
	for _, w := range []string{
		"type filter hook prerouting priority raw; policy accept;",
		"set s4-test {", "type ipv4_addr", "flags interval", `comment "v4 set"`,
		"elements = { 10.0.0.0/8, 192.168.0.1,", "240.0.0.0/4 }",
		"set s6-test {", "type ipv6_addr", "elements = { fd00::/64,", "ffff::/16 }",
		"set np4-test {", "type ipv4_addr . inet_proto . inet_service", `comment "named ports"`,
		"10.0.0.1 . tcp . 80", "10.0.0.1 . udp . 53", "192.168.0.1 . sctp . 65535",
		"set np6-test {", "type ipv6_addr . inet_proto . inet_service", "elements = { fd00::1 . tcp . 443 }",
		"set p-test {", "type inet_service", "flags constant,interval", "elements = { 22, 80-90, 443, 65000-65535 }",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("listing lacks %q", w)
		}
	}
}
