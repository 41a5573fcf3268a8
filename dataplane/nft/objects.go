package nft

import (
	"fmt"
	"net/netip"
	"strings"
)

// TableName is the name of untrackd's table; its family is always inet.
const TableName = "untrackd"

// Hook is a netfilter hook a base chain attaches to.
type Hook string

// The hooks untrackd uses.
const (
	HookPrerouting  Hook = "prerouting"
	HookInput       Hook = "input"
	HookForward     Hook = "forward"
	HookOutput      Hook = "output"
	HookPostrouting Hook = "postrouting"
)

// Well-known base chain priorities (see nft(8)).
const (
	PriorityRaw    int32 = -300 // before conntrack (-200)
	PriorityMangle int32 = -150
	PriorityDstNAT int32 = -100
	PriorityFilter int32 = 0
)

// ChainPolicy is a base chain's default verdict.
type ChainPolicy string

// Base chain policies.
const (
	PolicyAccept ChainPolicy = "accept"
	PolicyDrop   ChainPolicy = "drop"
)

// BaseChain makes a chain a base chain: type filter, attached to Hook.
type BaseChain struct {
	Hook     Hook
	Priority int32
	Policy   ChainPolicy
}

// Chain is a chain and its rules, in order.
type Chain struct {
	Name  string
	Base  *BaseChain // nil for a regular chain
	Rules []Rule
	// hashes caches the rules' hashes (see Hashes).
	hashes []string
}

// Hashes returns the hashes of the chain's rules, in order. They are
// computed once and cached: a chain's rules must not change after Hashes
// has been called.
func (c *Chain) Hashes() []string {
	if len(c.hashes) != len(c.Rules) {
		c.hashes = make([]string, len(c.Rules))
		for i, r := range c.Rules {
			c.hashes[i] = r.Hash()
		}
	}
	return c.hashes
}

// Rule is one rule: expressions evaluated left to right. Comment describes
// the rule for humans; it is stored with the rule but is not part of its
// Hash.
type Rule struct {
	Exprs   []Expr
	Comment string
}

// String renders the rule's expressions in nft syntax.
func (r Rule) String() string {
	parts := make([]string, len(r.Exprs))
	for i, e := range r.Exprs {
		parts[i] = e.String()
	}
	return strings.Join(parts, " ")
}

// SetType is the key type of a set.
type SetType string

// Set key types. The address types are interval sets whose elements are
// Intervals; the address-protocol-port types are plain (hash) sets whose
// elements are AddrPorts, used for named ports; port sets are constant
// interval sets of ports (see Set.Ports).
const (
	SetIPv4 SetType = "ipv4_addr"
	SetIPv6 SetType = "ipv6_addr"

	SetIPv4ProtoPort SetType = "ipv4_addr . inet_proto . inet_service"
	SetIPv6ProtoPort SetType = "ipv6_addr . inet_proto . inet_service"

	SetPorts SetType = "inet_service"
)

// IsAddrPort reports whether sets of type t hold AddrPorts.
func (t SetType) IsAddrPort() bool { return t == SetIPv4ProtoPort || t == SetIPv6ProtoPort }

// Family returns the IP family of t's addresses.
func (t SetType) Family() Family {
	if t == SetIPv6 || t == SetIPv6ProtoPort {
		return IPv6
	}
	return IPv4
}

// Set is a named set: an interval set of addresses, or a set of
// address-protocol-port tuples (see SetType).
type Set struct {
	Name    string
	Type    SetType
	Comment string
	// Ports is the content of a port set (Type SetPorts), sorted and
	// merged: such a set is created with it, as a constant set, and never
	// changes (the kernel refuses element changes to a constant set once a
	// rule uses it). Empty for the other types, whose elements are written
	// separately.
	Ports []PortRange
}

// Interval is an inclusive range of addresses of one family: the element of
// an interval set. A CIDR is one Interval; adjacent or overlapping CIDRs
// are merged into one.
type Interval struct {
	First, Last netip.Addr
}

// PrefixInterval returns the Interval covering p.
func PrefixInterval(p netip.Prefix) Interval {
	p = p.Masked()
	return Interval{First: p.Addr(), Last: lastAddr(p)}
}

// lastAddr returns the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range b {
		for j := 0; j < 8; j++ {
			if i*8+j >= bits {
				b[i] |= 0x80 >> j
			}
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// String renders the interval as a CIDR when it is exactly one, else as
// "first-last".
func (iv Interval) String() string {
	if iv.First == iv.Last {
		return iv.First.String()
	}
	for bits := iv.First.BitLen() - 1; bits >= 0; bits-- {
		p := netip.PrefixFrom(iv.First, bits)
		if p.Masked().Addr() != iv.First {
			break
		}
		if l := lastAddr(p); l == iv.Last {
			return p.String()
		} else if iv.Last.Less(l) {
			break
		}
	}
	return fmt.Sprintf("%s-%s", iv.First, iv.Last)
}

// Less orders intervals by first address.
func (iv Interval) Less(o Interval) bool {
	if iv.First != o.First {
		return iv.First.Less(o.First)
	}
	return iv.Last.Less(o.Last)
}

// AddrPort is an element of an address-protocol-port set: a named port of an
// endpoint, resolved to its address, IP protocol and port number.
type AddrPort struct {
	Addr  netip.Addr
	Proto uint8
	Port  uint16
}

// String renders the element as nft does: "10.0.0.1 . tcp . 11211".
func (e AddrPort) String() string {
	return fmt.Sprintf("%s . %s . %d", e.Addr, ProtoName(e.Proto), e.Port)
}

// Compare orders elements by address, protocol, then port.
func (e AddrPort) Compare(o AddrPort) int {
	if c := e.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	if e.Proto != o.Proto {
		return int(e.Proto) - int(o.Proto)
	}
	return int(e.Port) - int(o.Port)
}
