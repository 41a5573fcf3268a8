package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func iv(s string) Interval { return PrefixInterval(netip.MustParsePrefix(s)) }

// fakePorts is the content of the port set "p" of
// TestFakeRejectsWhatTheKernelWould.
var fakePorts = []PortRange{{22, 22}, {80, 90}}

func TestFakeRejectsWhatTheKernelWould(t *testing.T) {
	base := func() *Fake {
		f := NewFake()
		tx := &Transaction{}
		tx.AddTable()
		tx.AddChain(Chain{Name: "base", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
		tx.AddChain(Chain{Name: "target"})
		tx.AddSet(Set{Name: "s4", Type: SetIPv4})
		tx.AddElements("s4", []Interval{iv("10.0.0.0/8")})
		tx.AddRule("base", Rule{Exprs: []Expr{NFProto{Family: IPv4}, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}, Verdict{Kind: Jump, Chain: "target"}}})
		tx.AddSet(Set{Name: "p", Type: SetPorts, Ports: fakePorts})
		tx.AddRule("target", Rule{Exprs: []Expr{L4Proto{Proto: 6}, Ports{Field: DstPort, Ranges: fakePorts, Set: "p"}, Verdict{Kind: Accept}}})
		if err := f.Run(context.Background(), tx); err != nil {
			t.Fatal(err)
		}
		return f
	}
	cases := []struct {
		name string
		ops  func(tx *Transaction)
		want error
	}{
		{"rule in missing chain", func(tx *Transaction) { tx.AddRule("nope", Rule{}) }, ErrNotFound},
		{"jump to missing chain", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{Verdict{Kind: Goto, Chain: "nope"}}})
		}, ErrNotFound},
		{"jump to base chain", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "base"}}})
		}, ErrInvalid},
		{"lookup in missing set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{NFProto{Family: IPv4}, AddrInSet{Family: IPv4, Set: "nope"}}})
		}, ErrNotFound},
		{"lookup of the wrong family", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{NFProto{Family: IPv6}, AddrInSet{Family: IPv6, Set: "s4"}}})
		}, ErrInvalid},
		{"address without family match", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{AddrInSet{Family: IPv4, Set: "s4"}}})
		}, ErrInvalid},
		{"port without protocol match", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{Ports{Field: DstPort, Ranges: []PortRange{{22, 22}}}}})
		}, ErrInvalid},
		{"port after a negated protocol", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{L4Proto{Proto: 6, Neg: true}, Ports{Field: DstPort, Ranges: []PortRange{{22, 22}}}}})
		}, ErrInvalid},
		{"delete referenced chain", func(tx *Transaction) { tx.DeleteChain("target") }, ErrBusy},
		{"delete non-empty chain", func(tx *Transaction) { tx.DeleteChain("base") }, ErrBusy},
		{"delete referenced set", func(tx *Transaction) { tx.DeleteSet("s4") }, ErrBusy},
		{"overlapping element", func(tx *Transaction) { tx.AddElements("s4", []Interval{iv("10.1.0.0/16")}) }, ErrExists},
		{"element of the wrong family", func(tx *Transaction) { tx.AddElements("s4", []Interval{iv("fd00::/8")}) }, ErrInvalid},
		{"delete missing element", func(tx *Transaction) { tx.DeleteElements("s4", []Interval{iv("11.0.0.0/8")}) }, ErrNotFound},
		{"delete part of an element", func(tx *Transaction) { tx.DeleteElements("s4", []Interval{iv("10.0.0.0/9")}) }, ErrNotFound},
		{"move base chain", func(tx *Transaction) {
			tx.AddChain(Chain{Name: "base", Base: &BaseChain{Hook: HookInput, Priority: 0, Policy: PolicyAccept}})
		}, ErrBusy},
		{"delete missing rule handle", func(tx *Transaction) { tx.DeleteRule("base", 999) }, ErrNotFound},
		{"delete referenced port set", func(tx *Transaction) { tx.DeleteSet("p") }, ErrBusy},
		{"element added to a port set", func(tx *Transaction) { tx.AddElements("p", []Interval{iv("10.0.0.0/8")}) }, ErrBusy},
		{"port set without ports", func(tx *Transaction) { tx.AddSet(Set{Name: "p2", Type: SetPorts}) }, ErrInvalid},
		{"port set recreated with other ports", func(tx *Transaction) {
			tx.AddSet(Set{Name: "p", Type: SetPorts, Ports: []PortRange{{1, 2}}})
		}, ErrExists},
		{"port lookup in an address set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{L4Proto{Proto: 6}, Ports{Field: DstPort, Ranges: fakePorts, Set: "s4"}}})
		}, ErrInvalid},
		{"port lookup of other ports than the set's", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{L4Proto{Proto: 6}, Ports{Field: DstPort, Ranges: []PortRange{{22, 22}}, Set: "p"}}})
		}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base()
			before := f.Dump()
			tx := &Transaction{}
			tx.AddChain(Chain{Name: "fresh"}) // a valid op first: must be rolled back too
			c.ops(tx)
			err := f.Run(context.Background(), tx)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Index != 1 {
				t.Fatalf("error %v does not name operation 1", err)
			}
			if f.Dump() != before {
				t.Fatalf("failed transaction changed the table:\n%s", f.Dump())
			}
		})
	}
}

func TestFakeDeleteInSameTransaction(t *testing.T) {
	f := NewFake()
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "a"})
	tx.AddChain(Chain{Name: "b"})
	tx.AddRule("a", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "b"}}})
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	tx = &Transaction{}
	tx.FlushChain("a")
	tx.DeleteChain("b")
	tx.DeleteChain("a")
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatalf("flush then delete in one transaction: %v", err)
	}
	if st, _ := f.List(context.Background()); len(st.Chains) != 0 {
		t.Fatalf("chains left: %v", st.Chains)
	}
}

func TestRuleHashAndComment(t *testing.T) {
	r := Rule{Exprs: []Expr{IfName{Name: "eth0"}, Verdict{Kind: Accept}}, Comment: "hello"}
	same := Rule{Exprs: r.Exprs, Comment: "other words"}
	diff := Rule{Exprs: []Expr{IfName{Name: "eth1"}, Verdict{Kind: Accept}}}
	if r.Hash() != same.Hash() || r.Hash() == diff.Hash() {
		t.Fatal("hash must depend on expressions only")
	}
	if got := HashFromComment(r.StoredComment()); got != r.Hash() {
		t.Fatalf("hash from comment %q = %q", r.StoredComment(), got)
	}
	for _, c := range []string{"", "ut:", "ut:short", "other comment", "ut:ABCDEFGHIJKLMNOPQ"} {
		if h := HashFromComment(c); h != "" {
			t.Errorf("HashFromComment(%q) = %q, want none", c, h)
		}
	}
	long := Rule{Exprs: r.Exprs, Comment: string(make([]byte, 500))}
	if len(long.StoredComment()) > maxCommentLen {
		t.Fatal("comment not truncated")
	}
}

func TestIntervalString(t *testing.T) {
	cases := map[string]string{
		"10.0.0.0/8":    "10.0.0.0/8",
		"10.1.2.3/32":   "10.1.2.3",
		"0.0.0.0/0":     "0.0.0.0/0",
		"fd00::/64":     "fd00::/64",
		"::/0":          "::/0",
		"10.0.0.128/25": "10.0.0.128/25",
	}
	for in, want := range cases {
		if got := iv(in).String(); got != want {
			t.Errorf("%s: %s", in, got)
		}
	}
	r := Interval{First: netip.MustParseAddr("10.0.0.1"), Last: netip.MustParseAddr("10.0.0.6")}
	if r.String() != "10.0.0.1-10.0.0.6" {
		t.Errorf("range: %s", r)
	}
}

func TestFakeAddrPortSets(t *testing.T) {
	f := NewFake()
	ap := func(a string, proto uint8, port uint16) AddrPort {
		return AddrPort{Addr: netip.MustParseAddr(a), Proto: proto, Port: port}
	}
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "c"})
	tx.AddSet(Set{Name: "np4", Type: SetIPv4ProtoPort})
	tx.AddTuples("np4", []AddrPort{ap("10.0.0.2", 6, 80), ap("10.0.0.1", 17, 53), ap("10.0.0.1", 6, 80)})
	tx.AddRule("c", Rule{Exprs: []Expr{NFProto{Family: IPv4}, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}, Verdict{Kind: Accept}}})
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	st, _ := f.List(context.Background())
	if got := fmt.Sprint(st.Sets["np4"].Tuples); got != "[10.0.0.1 . tcp . 80 10.0.0.1 . udp . 53 10.0.0.2 . tcp . 80]" {
		t.Fatalf("tuples %s", got)
	}
	for _, bad := range []func(tx *Transaction){
		func(tx *Transaction) { tx.AddTuples("np4", []AddrPort{ap("10.0.0.1", 6, 80)}) },                        // exists
		func(tx *Transaction) { tx.DeleteTuples("np4", []AddrPort{ap("10.0.0.9", 6, 80)}) },                     // missing
		func(tx *Transaction) { tx.AddTuples("np4", []AddrPort{ap("fd00::1", 6, 80)}) },                         // family
		func(tx *Transaction) { tx.AddElements("np4", []Interval{iv("10.0.0.0/8")}) },                           // kind
		func(tx *Transaction) { tx.DeleteSet("np4") },                                                           // in use
		func(tx *Transaction) { tx.AddRule("c", Rule{Exprs: []Expr{AddrPortInSet{Family: IPv4, Set: "np4"}}}) }, // no nfproto
	} {
		tx := &Transaction{}
		bad(tx)
		if err := f.Run(context.Background(), tx); err == nil {
			t.Errorf("%v accepted", tx.Ops)
		}
	}
	tx = &Transaction{}
	tx.DeleteTuples("np4", []AddrPort{ap("10.0.0.1", 17, 53)})
	if err := f.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.Dump(), "elements = { 10.0.0.1 . tcp . 80, 10.0.0.2 . tcp . 80 }") {
		t.Fatalf("dump:\n%s", f.Dump())
	}
}
