package nft

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The expected encodings below are those `nft --debug=netlink` shows for the
// same rules (nft 1.0.6). TestNetlinkBytecodeMatchesNft checks all of them
// against nft itself when run as root; these tests pin them without root.

func meta(k expr.MetaKey) *expr.Meta { return &expr.Meta{Key: k, Register: 1} }

func cmpEq(b ...byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b} }

func cmpNeq(b ...byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: b} }

func ne32(v uint32) []byte { return binaryutil.NativeEndian.PutUint32(v) }

func TestCompileExprs(t *testing.T) {
	th := func(off, n uint32) *expr.Payload {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: n}
	}
	nh := func(off, n uint32) *expr.Payload {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
	}
	veth0 := []byte("veth0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	tcpDeps := []expr.Any{meta(expr.MetaKeyL4PROTO), cmpEq(6)}
	v4Deps := []expr.Any{meta(expr.MetaKeyNFPROTO), cmpEq(unix.NFPROTO_IPV4)}
	v6Deps := []expr.Any{meta(expr.MetaKeyNFPROTO), cmpEq(unix.NFPROTO_IPV6)}
	cases := []struct {
		exprs []Expr
		want  []expr.Any
	}{
		{[]Expr{IfName{Name: "veth0"}}, []expr.Any{meta(expr.MetaKeyIIFNAME), cmpEq(veth0...)}},
		{[]Expr{IfName{Out: true, Name: "veth0", Neg: true}}, []expr.Any{meta(expr.MetaKeyOIFNAME), cmpNeq(veth0...)}},
		{[]Expr{L4Proto{Proto: 17, Neg: true}}, []expr.Any{meta(expr.MetaKeyL4PROTO), cmpNeq(17)}},
		{[]Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{12211, 12211}}}},
			append(tcpDeps, th(2, 2), cmpEq(0x2f, 0xb3))},
		{[]Expr{nlTCP, Ports{Field: SrcPort, Ranges: []PortRange{{1000, 2000}}}},
			append(tcpDeps, th(0, 2), &expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: []byte{0x03, 0xe8}},
				&expr.Cmp{Op: expr.CmpOpLte, Register: 1, Data: []byte{0x07, 0xd0}})},
		{[]Expr{nlTCP, Ports{Field: SrcPort, Ranges: []PortRange{{1000, 2000}}, Neg: true}},
			append(tcpDeps, th(0, 2), &expr.Range{Op: expr.CmpOpNeq, Register: 1, FromData: []byte{0x03, 0xe8}, ToData: []byte{0x07, 0xd0}})},
		{[]Expr{nlV4, Addrs{Family: IPv4, Field: SrcAddr, Prefixes: []netip.Prefix{nlPfx("10.0.0.0/8")}}},
			append(v4Deps, nh(12, 1), cmpEq(10))},
		{[]Expr{nlV4, Addrs{Family: IPv4, Field: DstAddr, Prefixes: []netip.Prefix{nlPfx("10.1.2.3/32")}, Neg: true}},
			append(v4Deps, nh(16, 4), cmpNeq(10, 1, 2, 3))},
		{[]Expr{nlV4, Addrs{Family: IPv4, Field: SrcAddr, Prefixes: []netip.Prefix{nlPfx("10.0.0.0/9")}}},
			append(v4Deps, nh(12, 4), &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: []byte{0xff, 0x80, 0, 0}, Xor: []byte{0, 0, 0, 0}}, cmpEq(10, 0, 0, 0))},
		{[]Expr{nlV6, Addrs{Family: IPv6, Field: SrcAddr, Prefixes: []netip.Prefix{nlPfx("fd00::/64")}}},
			append(v6Deps, nh(8, 8), cmpEq(0xfd, 0, 0, 0, 0, 0, 0, 0))},
		{[]Expr{nlV6, AddrInSet{Family: IPv6, Field: DstAddr, Set: "s6", Neg: true}},
			append(v6Deps, nh(24, 16), &expr.Lookup{SourceRegister: 1, SetName: "s6", Invert: true})},
		{[]Expr{Mark{Mask: 0xff00, Value: 0x100}}, []expr.Any{meta(expr.MetaKeyMARK),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(0xff00), Xor: ne32(0)}, cmpEq(ne32(0x100)...)}},
		{[]Expr{CTStateIn{States: CTEstablished | CTRelated}}, []expr.Any{&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(6), Xor: ne32(0)}, cmpNeq(ne32(0)...)}},
		{[]Expr{L4Proto{Proto: 1}, ICMP{Type: 8, Neg: true}}, []expr.Any{meta(expr.MetaKeyL4PROTO), cmpEq(1), th(0, 1), cmpNeq(8)}},
		{[]Expr{L4Proto{Proto: 58}, ICMP{V6: true, Type: 1, HasCode: true, Code: 4}},
			[]expr.Any{meta(expr.MetaKeyL4PROTO), cmpEq(58), th(0, 2), cmpEq(1, 4)}},
		{[]Expr{Log{Prefix: "p: "}}, []expr.Any{&expr.Log{Key: 1 << unix.NFTA_LOG_PREFIX, Data: []byte("p: ")}}},
		{[]Expr{SetMarkBits{Bits: 0x100}}, []expr.Any{meta(expr.MetaKeyMARK),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(0xfffffeff), Xor: ne32(0x100)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1}}},
		{[]Expr{ClearMarkBits{Bits: 0x100}}, []expr.Any{meta(expr.MetaKeyMARK),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(0xfffffeff), Xor: ne32(0)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1}}},
		{[]Expr{Counter{}, Notrack{}, Verdict{Kind: Goto, Chain: "c"}},
			[]expr.Any{&expr.Counter{}, &expr.Notrack{}, &expr.Verdict{Kind: expr.VerdictGoto, Chain: "c"}}},
	}
	for _, c := range cases {
		comp := &ruleCompiler{}
		got, sets, err := comp.compile(Rule{Exprs: c.exprs})
		if err != nil || len(sets) != 0 {
			t.Errorf("%v: error %v, %d sets", c.exprs, err, len(sets))
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got  %s\n want %s", Rule{Exprs: c.exprs}, dumpExprs(got), dumpExprs(c.want))
		}
	}
}

func dumpExprs(es []expr.Any) string {
	s := ""
	for _, e := range es {
		s += fmt.Sprintf("%T%+v ", e, e)
	}
	return s
}

func TestCompileAnonymousSets(t *testing.T) {
	comp := &ruleCompiler{}
	got, sets, err := comp.compile(Rule{Exprs: []Expr{nlTCP,
		Ports{Field: DstPort, Ranges: []PortRange{{443, 443}, {80, 90}, {22, 22}, {85, 100}, {65000, 65535}}, Neg: true}}})
	if err != nil || len(sets) != 1 {
		t.Fatalf("error %v, %d sets", err, len(sets))
	}
	s := sets[0]
	if !s.set.Anonymous || !s.set.Constant || !s.set.Interval || s.set.ID != 1 || s.set.KeyType.Name != "inet_service" {
		t.Errorf("set %+v", s.set)
	}
	if l := got[len(got)-1].(*expr.Lookup); l.SetID != 1 || !l.Invert || l.SetName != "__set%d" {
		t.Errorf("lookup %+v", l)
	}
	// nft's layout: leading end at 0, then start/end pairs, merged, and no
	// end after a range reaching 65535.
	want := []nftables.SetElement{
		{Key: []byte{0, 0}, IntervalEnd: true},
		{Key: []byte{0, 22}}, {Key: []byte{0, 23}, IntervalEnd: true},
		{Key: []byte{0, 80}}, {Key: []byte{0, 101}, IntervalEnd: true},
		{Key: []byte{0x01, 0xbb}}, {Key: []byte{0x01, 0xbc}, IntervalEnd: true},
		{Key: []byte{0xfd, 0xe8}},
	}
	if !reflect.DeepEqual(s.elems, want) {
		t.Errorf("elements %v, want %v", s.elems, want)
	}

	_, sets, _ = comp.compile(Rule{Exprs: []Expr{L4Proto{Proto: 1}, ICMP{Type: 3, HasCode: true, Code: 1, Neg: true}}})
	if len(sets) != 1 || sets[0].set.ID != 2 || sets[0].set.Interval || sets[0].set.KeyType.Bytes != 8 ||
		!reflect.DeepEqual(sets[0].elems, []nftables.SetElement{{Key: []byte{3, 0, 0, 0, 1, 0, 0, 0}}}) {
		t.Errorf("icmp type . code set: %+v", sets)
	}
}

// TestEncodeMessages checks the messages a transaction becomes and the
// operation each is attributed to, without a kernel.
func TestEncodeMessages(t *testing.T) {
	n := &Netlink{table: &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}}
	many := spacedIntervals(nlAddr("10.0.0.0"), 4000)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "s", Type: SetIPv4})
	tx.AddElements("s", many)
	tx.AddChain(Chain{Name: "c", Base: &BaseChain{Hook: HookInput, Policy: PolicyDrop}})
	tx.AddRule("c", Rule{Exprs: []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{1, 1}, {3, 3}}}}, Comment: `say "hi"`})
	tx.DeleteRule("c", 7)
	msgs, err := n.encode(tx)
	if err != nil {
		t.Fatal(err)
	}
	type tm struct {
		typ uint16
		op  int
	}
	var got []tm
	for _, m := range msgs {
		got = append(got, tm{uint16(m.msg.Header.Type) & 0xff, m.op})
		if m.msg.Header.Flags&netlink.Request == 0 {
			t.Errorf("message without NLM_F_REQUEST")
		}
	}
	want := []tm{{unix.NFT_MSG_NEWTABLE, 0}, {unix.NFT_MSG_NEWSET, 1},
		{unix.NFT_MSG_NEWSETELEM, 2}, {unix.NFT_MSG_NEWSETELEM, 2}, {unix.NFT_MSG_NEWSETELEM, 2}, {unix.NFT_MSG_NEWSETELEM, 2},
		{unix.NFT_MSG_NEWCHAIN, 3}, {unix.NFT_MSG_NEWSET, 4}, {unix.NFT_MSG_NEWSETELEM, 4}, {unix.NFT_MSG_NEWRULE, 4},
		{unix.NFT_MSG_DELRULE, 5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages %v, want %v", got, want)
	}
	for _, m := range msgs {
		if len(m.msg.Data) > 65535 {
			t.Errorf("message of %d bytes: its element list cannot fit one attribute", len(m.msg.Data))
		}
	}
}

func TestNftComment(t *testing.T) {
	if got := nftComment("ut:ABC say \"hi\"\n\tnow"); got != "ut:ABC say 'hi'  now" {
		t.Errorf("nftComment = %q", got)
	}
}
