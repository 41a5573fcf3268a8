package nft

import "fmt"

// ruleDeps tracks what the expressions so far have established, to refuse
// header matches that would read the wrong bytes.
type ruleDeps struct {
	family Family // 0 until a NFProto match
	l4     int    // -1 until a positive L4Proto match
}

// protocols whose transport header starts with 16-bit source and
// destination ports: tcp, udp, dccp, sctp, udplite.
var portProtos = map[int]bool{6: true, 17: true, 33: true, 132: true, 136: true}

// CheckRule reports whether r's header matches can be evaluated: port
// matches need a preceding positive match of a protocol with ports, ICMP
// matches a preceding match of ICMP or ICMPv6, and address matches a
// preceding match of their family (meta nfproto). Without these the kernel
// would read the wrong bytes. Both the Netlink writer and the Fake reject
// such rules with ErrInvalid.
func CheckRule(r Rule) error {
	deps := ruleDeps{l4: -1}
	for i, e := range r.Exprs {
		if err := deps.observe(e); err != nil {
			return fmt.Errorf("expression %d (%s): %w", i, exprString(e), err)
		}
	}
	return nil
}

// observe checks e against what the expressions before it established and
// records what e establishes.
func (d *ruleDeps) observe(e Expr) error {
	switch e := e.(type) {
	case NFProto:
		d.family = e.Family
	case L4Proto:
		if !e.Neg {
			d.l4 = int(e.Proto)
		}
	case Ports:
		if !portProtos[d.l4] {
			return fmt.Errorf("port match needs a preceding match of a protocol with ports: %w", ErrInvalid)
		}
	case Addrs:
		if d.family != e.Family {
			return fmt.Errorf("address match needs a preceding meta nfproto %s: %w", e.Family, ErrInvalid)
		}
	case AddrInSet:
		if d.family != e.Family {
			return fmt.Errorf("address match needs a preceding meta nfproto %s: %w", e.Family, ErrInvalid)
		}
	case AddrPortInSet:
		if d.family != e.Family {
			return fmt.Errorf("address match needs a preceding meta nfproto %s: %w", e.Family, ErrInvalid)
		}
	case ICMP:
		want := 1
		if e.V6 {
			want = 58
		}
		if d.l4 != want {
			return fmt.Errorf("icmp match needs a preceding meta l4proto %s: %w", ProtoName(uint8(want)), ErrInvalid)
		}
	}
	return nil
}
