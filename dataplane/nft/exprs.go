package nft

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Expr is one expression of a rule: a match, a statement or a verdict. The
// set of Expr types is closed (the unexported method); the Netlink writer
// compiles each to kernel expressions and the Fake's tracer evaluates each.
// String gives nft syntax; it is also what a rule's Hash is computed over,
// so it must be deterministic and differ whenever the meaning differs.
type Expr interface {
	String() string
	isExpr()
}

// Family is an IP family.
type Family uint8

// IP families.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// AddrField selects the source or destination address.
type AddrField uint8

// Address fields.
const (
	SrcAddr AddrField = iota
	DstAddr
)

// PortField selects the transport source or destination port.
type PortField uint8

// Port fields.
const (
	SrcPort PortField = iota
	DstPort
)

// IfName matches the input (Out false) or output (Out true) interface name
// exactly. Neg inverts the match.
type IfName struct {
	Out  bool
	Name string
	Neg  bool
}

// NFProto matches packets of one IP family.
type NFProto struct{ Family Family }

// L4Proto matches the transport protocol number.
type L4Proto struct {
	Proto uint8
	Neg   bool
}

// PortRange is an inclusive range of ports.
type PortRange struct{ First, Last uint16 }

// Ports matches the transport port against any of Ranges (none of them when
// Neg). It must follow an L4Proto match of a protocol with ports. With Set,
// the match is a lookup in that named port set (type SetPorts), which must
// hold exactly Ranges; otherwise several ranges are an anonymous set of the
// rule's own.
type Ports struct {
	Field  PortField
	Ranges []PortRange
	Neg    bool
	Set    string
}

// Addrs matches the address against any of Prefixes (none when Neg). The
// prefixes must all be of Family, and the rule must already have restricted
// the family (NFProto).
type Addrs struct {
	Field    AddrField
	Family   Family
	Prefixes []netip.Prefix
	Neg      bool
}

// AddrInSet matches the address against the named set (of Family).
type AddrInSet struct {
	Field  AddrField
	Family Family
	Set    string
	Neg    bool
}

// AddrPortInSet matches the (address, transport protocol, port) of the
// packet's source (Field SrcAddr: saddr and sport) or destination against
// an address-protocol-port set of Family. The rule must already have
// restricted the family (NFProto); the set's members carry the protocol, so
// no L4Proto match is needed.
type AddrPortInSet struct {
	Field  AddrField
	Family Family
	Set    string
	Neg    bool
}

// Mark matches packets whose mark, ANDed with Mask, equals Value.
type Mark struct{ Mask, Value uint32 }

// CTState is a bit set of conntrack states.
type CTState uint32

// Conntrack states, with the kernel's bit values.
const (
	CTInvalid     CTState = 1
	CTEstablished CTState = 2
	CTRelated     CTState = 4
	CTNew         CTState = 8
	CTUntracked   CTState = 64
)

// CTStateIn matches packets whose conntrack state is one of States.
type CTStateIn struct{ States CTState }

// ICMP matches the ICMP (or ICMPv6) type and, if HasCode, code. Neg matches
// packets whose type (and code) differ. It must follow an L4Proto match of
// ICMP or ICMPv6.
type ICMP struct {
	V6      bool
	Type    uint8
	HasCode bool
	Code    uint8
	Neg     bool
}

// Counter counts packets and bytes reaching it.
type Counter struct{}

// Log logs the packet with Prefix.
type Log struct{ Prefix string }

// SetMarkBits ORs Bits into the packet mark.
type SetMarkBits struct{ Bits uint32 }

// ClearMarkBits clears Bits in the packet mark.
type ClearMarkBits struct{ Bits uint32 }

// Notrack exempts the packet from connection tracking.
type Notrack struct{}

// VerdictKind is a verdict.
type VerdictKind uint8

// Verdicts.
const (
	Accept VerdictKind = iota
	Drop
	Return
	Jump
	Goto
)

// Verdict ends rule evaluation: accept, drop, return, or jump/goto Chain.
type Verdict struct {
	Kind  VerdictKind
	Chain string
}

func (IfName) isExpr()        {}
func (NFProto) isExpr()       {}
func (L4Proto) isExpr()       {}
func (Ports) isExpr()         {}
func (Addrs) isExpr()         {}
func (AddrInSet) isExpr()     {}
func (AddrPortInSet) isExpr() {}
func (Mark) isExpr()          {}
func (CTStateIn) isExpr()     {}
func (ICMP) isExpr()          {}
func (Counter) isExpr()       {}
func (Log) isExpr()           {}
func (SetMarkBits) isExpr()   {}
func (ClearMarkBits) isExpr() {}
func (Notrack) isExpr()       {}
func (Verdict) isExpr()       {}

func neq(neg bool) string {
	if neg {
		return "!= "
	}
	return ""
}

func (e IfName) String() string {
	k := "iifname"
	if e.Out {
		k = "oifname"
	}
	return fmt.Sprintf("%s %s%q", k, neq(e.Neg), e.Name)
}

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

func (e NFProto) String() string { return "meta nfproto " + e.Family.String() }

var protoNames = map[uint8]string{1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp", 136: "udplite"}

// ProtoName returns nft's name for an IP protocol number, or the number.
func ProtoName(p uint8) string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return strconv.Itoa(int(p))
}

func (e L4Proto) String() string { return "meta l4proto " + neq(e.Neg) + ProtoName(e.Proto) }

func (r PortRange) String() string {
	if r.First == r.Last {
		return strconv.Itoa(int(r.First))
	}
	return fmt.Sprintf("%d-%d", r.First, r.Last)
}

func anonSet(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return "{ " + strings.Join(items, ", ") + " }"
}

func (e Ports) String() string {
	k := "th sport"
	if e.Field == DstPort {
		k = "th dport"
	}
	if e.Set != "" {
		return k + " " + neq(e.Neg) + "@" + e.Set
	}
	items := make([]string, len(e.Ranges))
	for i, r := range e.Ranges {
		items[i] = r.String()
	}
	return k + " " + neq(e.Neg) + anonSet(items)
}

func addrKey(f Family, a AddrField) string {
	p := "ip"
	if f == IPv6 {
		p = "ip6"
	}
	if a == SrcAddr {
		return p + " saddr"
	}
	return p + " daddr"
}

func (e Addrs) String() string {
	items := make([]string, len(e.Prefixes))
	for i, p := range e.Prefixes {
		if p.IsSingleIP() {
			items[i] = p.Addr().String()
		} else {
			items[i] = p.String()
		}
	}
	return addrKey(e.Family, e.Field) + " " + neq(e.Neg) + anonSet(items)
}

func (e AddrInSet) String() string {
	return addrKey(e.Family, e.Field) + " " + neq(e.Neg) + "@" + e.Set
}

func (e AddrPortInSet) String() string {
	port := "th dport"
	if e.Field == SrcAddr {
		port = "th sport"
	}
	return addrKey(e.Family, e.Field) + " . meta l4proto . " + port + " " + neq(e.Neg) + "@" + e.Set
}

func (e Mark) String() string {
	return fmt.Sprintf("meta mark & 0x%08x == 0x%08x", e.Mask, e.Value)
}

var ctStateNames = []struct {
	s    CTState
	name string
}{{CTInvalid, "invalid"}, {CTEstablished, "established"}, {CTRelated, "related"}, {CTNew, "new"}, {CTUntracked, "untracked"}}

func (e CTStateIn) String() string {
	var names []string
	for _, n := range ctStateNames {
		if e.States&n.s != 0 {
			names = append(names, n.name)
		}
	}
	return "ct state " + strings.Join(names, ",")
}

func (e ICMP) String() string {
	k := "icmp"
	if e.V6 {
		k = "icmpv6"
	}
	if e.HasCode {
		return fmt.Sprintf("%s type . %s code %s%d . %d", k, k, neq(e.Neg), e.Type, e.Code)
	}
	return fmt.Sprintf("%s type %s%d", k, neq(e.Neg), e.Type)
}

func (Counter) String() string { return "counter" }
func (e Log) String() string   { return fmt.Sprintf("log prefix %q", e.Prefix) }
func (Notrack) String() string { return "notrack" }
func (e SetMarkBits) String() string {
	return fmt.Sprintf("meta mark set meta mark | 0x%08x", e.Bits)
}
func (e ClearMarkBits) String() string {
	return fmt.Sprintf("meta mark set meta mark & 0x%08x", ^e.Bits)
}

func (e Verdict) String() string {
	switch e.Kind {
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case Return:
		return "return"
	case Jump:
		return "jump " + e.Chain
	case Goto:
		return "goto " + e.Chain
	}
	return fmt.Sprintf("verdict(%d)", e.Kind)
}
