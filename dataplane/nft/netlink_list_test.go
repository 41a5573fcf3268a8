package nft

import (
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// canonState renders a TableState without rule handles (which differ between
// the Fake and the kernel), for comparisons.
func canonState(st *TableState) string {
	if st == nil {
		return "<no table>"
	}
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(st.Sets)) {
		s := st.Sets[name]
		fmt.Fprintf(&b, "set %s type=%s comment=%q\n", s.Name, s.Type, s.Comment)
		for _, e := range s.Elements {
			fmt.Fprintf(&b, "  %s-%s\n", e.First, e.Last)
		}
		for _, e := range s.Tuples {
			fmt.Fprintf(&b, "  %s\n", e)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(st.Chains)) {
		c := st.Chains[name]
		fmt.Fprintf(&b, "chain %s", c.Name)
		if c.Base != nil {
			fmt.Fprintf(&b, " base=%+v", *c.Base)
		}
		fmt.Fprintf(&b, " rules=%v\n", c.Hashes())
	}
	return b.String()
}

// edgeIntervals are set elements at the edges of the address spaces.
var (
	edge4 = []Interval{
		PrefixInterval(nlPfx("0.0.0.0/8")),
		PrefixInterval(nlPfx("10.0.0.0/8")),
		PrefixInterval(nlPfx("11.0.0.0/8")), // adjacent to the one before
		nlIv("192.168.0.1", "192.168.0.1"),
		nlIv("200.0.0.7", "200.0.1.3"),
		nlIv("255.255.255.255", "255.255.255.255"),
	}
	edge4Top = []Interval{nlIv("240.0.0.0", "255.255.255.255")}
	edge6    = []Interval{
		nlIv("::", "::"),
		PrefixInterval(nlPfx("2001:db8::/64")),
		nlIv("2001:db8:1::1", "2001:db8:1::5"),
		PrefixInterval(nlPfx("ffff::/16")),
	}
	edge6All = []Interval{PrefixInterval(nlPfx("::/0"))}
)

// TestNetlinkListMatchesFake applies the same transactions to the Fake and
// to the kernel and checks that List reads back the same table, including
// set elements exactly as added.
func TestNetlinkListMatchesFake(t *testing.T) {
	n, _ := kernelNetlink(t)
	f := NewFake()
	if st := nlList(t, n); st != nil {
		t.Fatalf("List before any table = %+v, want nil", st)
	}

	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "e4", Type: SetIPv4, Comment: "edges"})
	tx.AddSet(Set{Name: "e4top", Type: SetIPv4})
	tx.AddSet(Set{Name: "e6", Type: SetIPv6})
	tx.AddSet(Set{Name: "e6all", Type: SetIPv6})
	tx.AddSet(Set{Name: "empty", Type: SetIPv4})
	tx.AddElements("e4", edge4)
	tx.AddElements("e4top", edge4Top)
	tx.AddElements("e6", edge6)
	tx.AddElements("e6all", edge6All)
	tx.AddSet(Set{Name: "np4", Type: SetIPv4ProtoPort, Comment: "named ports"})
	tx.AddSet(Set{Name: "np6", Type: SetIPv6ProtoPort})
	tx.AddSet(Set{Name: "np-empty", Type: SetIPv6ProtoPort})
	tx.AddTuples("np4", []AddrPort{ap("10.0.0.2", 6, 80), ap("10.0.0.1", 17, 53), ap("10.0.0.1", 6, 80), ap("0.0.0.0", 0, 0)})
	tx.AddTuples("np6", []AddrPort{ap("fd00::1", 6, 80), ap("fd00::1", 6, 81)})
	tx.AddChain(Chain{Name: "pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "in", Base: &BaseChain{Hook: HookInput, Priority: PriorityFilter + 5, Policy: PolicyDrop}})
	tx.AddChain(Chain{Name: "pol"})
	tx.AddChain(Chain{Name: "gone"})
	tx.AddRule("pol", Rule{Exprs: []Expr{nlV4, AddrInSet{Family: IPv4, Set: "e4"}, Verdict{Kind: Accept}}, Comment: "one"})
	tx.AddRule("pol", Rule{Exprs: []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{22, 22}}}, Verdict{Kind: Drop}}})
	tx.AddRule("pre", Rule{Exprs: []Expr{IfName{Name: "eth0"}, Verdict{Kind: Jump, Chain: "pol"}}})
	tx.AddRule("in", Rule{Exprs: []Expr{CTStateIn{States: CTEstablished}, Verdict{Kind: Accept}}})
	tx.AddRule("in", Rule{Exprs: []Expr{Verdict{Kind: Goto, Chain: "pol"}}})
	tx.AddRule("pol", Rule{Exprs: []Expr{nlV4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}, Verdict{Kind: Accept}}})
	tx.AddRule("pol", Rule{Exprs: []Expr{nlV6, AddrPortInSet{Field: SrcAddr, Family: IPv6, Set: "np6", Neg: true}, Verdict{Kind: Drop}}})
	applyBoth(t, f, n, tx)
	compareStates(t, f, n)

	// Second transaction: handles come from each writer's own listing.
	second := func(st *TableState) *Transaction {
		tx := &Transaction{}
		tx.DeleteRule("pol", st.Chains["pol"].Rules[0].Handle)
		tx.DeleteElements("e4", []Interval{edge4[2], edge4[5]})
		tx.AddElements("e4", []Interval{nlIv("12.0.0.0", "12.0.0.0")})
		tx.DeleteElements("e6all", edge6All)
		tx.AddElements("e6all", []Interval{nlIv("::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")})
		tx.FlushChain("in")
		tx.AddRule("in", Rule{Exprs: []Expr{Counter{}}})
		tx.DeleteChain("gone")
		tx.DeleteSet("empty")
		tx.AddChain(Chain{Name: "in", Base: &BaseChain{Hook: HookInput, Priority: PriorityFilter + 5, Policy: PolicyAccept}})
		tx.DeleteTuples("np4", []AddrPort{ap("10.0.0.1", 17, 53), ap("0.0.0.0", 0, 0)})
		tx.AddTuples("np4", []AddrPort{ap("10.0.0.1", 17, 54), ap("10.0.0.0", 6, 80)})
		tx.DeleteTuples("np6", []AddrPort{ap("fd00::1", 6, 80), ap("fd00::1", 6, 81)})
		tx.AddTuples("np6", []AddrPort{ap("fd00::1", 6, 80)})
		tx.DeleteSet("np-empty")
		return tx
	}
	if err := f.Run(nlCtx(t), second(nlList(t, f))); err != nil {
		t.Fatalf("Fake: %v", err)
	}
	nlRun(t, n, second(nlList(t, n)))
	compareStates(t, f, n)

	got := nlList(t, n)
	if want := []Interval{edge4[0], edge4[1], nlIv("12.0.0.0", "12.0.0.0"), edge4[3], edge4[4]}; !slices.Equal(got.Sets["e4"].Elements, want) {
		t.Errorf("e4 = %v, want %v", got.Sets["e4"].Elements, want)
	}
	if want := []AddrPort{ap("10.0.0.0", 6, 80), ap("10.0.0.1", 6, 80), ap("10.0.0.1", 17, 54), ap("10.0.0.2", 6, 80)}; !slices.Equal(got.Sets["np4"].Tuples, want) {
		t.Errorf("np4 = %v, want %v", got.Sets["np4"].Tuples, want)
	}
	if np := got.Sets["np4"]; np.Type != SetIPv4ProtoPort || np.Comment != "named ports" || len(np.Elements) != 0 {
		t.Errorf("np4 = %+v", np)
	}

	tx = &Transaction{}
	tx.DeleteTable()
	applyBoth(t, f, n, tx)
	if st := nlList(t, n); st != nil {
		t.Errorf("List after DeleteTable = %v, want nil", canonState(st))
	}
}

// TestNetlinkReplaceTable deletes and recreates the table in one
// transaction (the full-rewrite fallback): the old content is gone, and at
// no point was the table missing.
func TestNetlinkReplaceTable(t *testing.T) {
	n, _ := kernelNetlink(t)
	f := NewFake()
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "s", Type: SetIPv4})
	tx.AddElements("s", []Interval{nlIv("10.0.0.1", "10.0.0.1")})
	tx.AddChain(Chain{Name: "in", Base: &BaseChain{Hook: HookInput, Priority: 0, Policy: PolicyAccept}})
	tx.AddRule("in", Rule{Exprs: []Expr{nlV4, AddrInSet{Family: IPv4, Set: "s"}, Verdict{Kind: Drop}}})
	applyBoth(t, f, n, tx)

	tx = &Transaction{}
	tx.DeleteTable()
	tx.AddTable()
	tx.AddSet(Set{Name: "s", Type: SetIPv6})
	tx.AddChain(Chain{Name: "in", Base: &BaseChain{Hook: HookInput, Priority: 10, Policy: PolicyDrop}})
	tx.AddRule("in", Rule{Exprs: []Expr{nlV6, AddrInSet{Family: IPv6, Set: "s"}, Verdict{Kind: Accept}}})
	applyBoth(t, f, n, tx)
	compareStates(t, f, n)
}

func applyBoth(t *testing.T, f *Fake, n *Netlink, tx *Transaction) {
	t.Helper()
	if err := f.Run(nlCtx(t), tx); err != nil {
		t.Fatalf("Fake.Run: %v", err)
	}
	nlRun(t, n, tx)
}

func compareStates(t *testing.T, f *Fake, n *Netlink) {
	t.Helper()
	want, got := canonState(nlList(t, f)), canonState(nlList(t, n))
	if got != want {
		t.Errorf("kernel state differs from the Fake's\nkernel:\n%s\nfake:\n%s", got, want)
	}
}

// TestNetlinkErrorsMatchFake runs transactions that must fail against a
// baseline table, on the Fake and on the kernel, and checks that both fail
// on the same operation with the same package error, and that the kernel
// table did not change.
func TestNetlinkErrorsMatchFake(t *testing.T) {
	n, ns := kernelNetlink(t)
	f := NewFake()
	base := &Transaction{}
	base.AddTable()
	base.AddChain(Chain{Name: "base", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	base.AddChain(Chain{Name: "target"})
	base.AddChain(Chain{Name: "empty"})
	base.AddChain(Chain{Name: "referenced"})
	base.AddSet(Set{Name: "s4", Type: SetIPv4})
	base.AddElements("s4", []Interval{PrefixInterval(nlPfx("10.0.0.0/8")), nlIv("192.168.0.1", "192.168.0.9")})
	base.AddRule("base", Rule{Exprs: []Expr{nlV4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "s4"}, Verdict{Kind: Jump, Chain: "target"}}})
	base.AddRule("target", Rule{Exprs: []Expr{Verdict{Kind: Goto, Chain: "referenced"}}})
	base.AddSet(Set{Name: "np4", Type: SetIPv4ProtoPort})
	base.AddSet(Set{Name: "np6", Type: SetIPv6ProtoPort})
	base.AddTuples("np4", []AddrPort{ap("10.0.0.1", 6, 80), ap("10.0.0.1", 17, 53)})
	base.AddTuples("np6", []AddrPort{ap("fd00::1", 6, 80)})
	base.AddRule("base", Rule{Exprs: []Expr{nlV4, AddrPortInSet{Field: DstAddr, Family: IPv4, Set: "np4"}, Verdict{Kind: Accept}}})
	applyBoth(t, f, n, base)
	before := nlList(t, n)
	beforeText := ns.MustExec(t, "nft", "list", "table", "inet", TableName)

	ok := Rule{Exprs: []Expr{Counter{}}}
	cases := []struct {
		name  string
		ops   func(tx *Transaction)
		index int
		want  error
	}{
		{"rule in missing chain", func(tx *Transaction) { tx.AddRule("target", ok); tx.AddRule("nope", ok) }, 1, ErrNotFound},
		{"jump to missing chain in the middle", func(tx *Transaction) {
			tx.AddRule("target", ok)
			tx.AddChain(Chain{Name: "new"})
			tx.AddRule("new", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "nope"}}})
			tx.AddElements("s4", []Interval{nlIv("172.16.0.0", "172.16.0.0")})
			tx.FlushChain("base")
		}, 2, ErrNotFound},
		{"jump to base chain", func(tx *Transaction) { tx.AddRule("target", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "base"}}}) }, 0, ErrInvalid},
		{"jump to itself", func(tx *Transaction) { tx.AddRule("target", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "target"}}}) }, 0, ErrLoop},
		{"lookup in missing set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrInSet{Family: IPv4, Set: "nope"}}})
		}, 0, ErrNotFound},
		{"flush missing chain", func(tx *Transaction) { tx.FlushChain("nope") }, 0, ErrNotFound},
		{"delete missing chain", func(tx *Transaction) { tx.DeleteChain("nope") }, 0, ErrNotFound},
		{"delete chain with rules", func(tx *Transaction) { tx.DeleteChain("target") }, 0, ErrBusy},
		{"delete chain that is jumped to", func(tx *Transaction) { tx.DeleteChain("referenced") }, 0, ErrBusy},
		{"delete missing rule", func(tx *Transaction) { tx.DeleteRule("target", 999999) }, 0, ErrNotFound},
		{"delete set in use", func(tx *Transaction) { tx.DeleteSet("s4") }, 0, ErrBusy},
		{"delete missing set", func(tx *Transaction) { tx.DeleteSet("nope") }, 0, ErrNotFound},
		{"add set as another type", func(tx *Transaction) { tx.AddSet(Set{Name: "s4", Type: SetIPv6}) }, 0, ErrExists},
		{"overlapping element", func(tx *Transaction) {
			tx.AddElements("s4", []Interval{nlIv("11.0.0.0", "11.0.0.1")})
			tx.AddElements("s4", []Interval{nlIv("192.168.0.5", "192.168.0.20")})
		}, 1, ErrExists},
		{"overlap within one operation", func(tx *Transaction) {
			tx.AddElements("s4", []Interval{nlIv("20.0.0.0", "20.0.0.10"), nlIv("20.0.0.5", "20.0.0.6")})
		}, 0, ErrExists},
		{"delete missing element", func(tx *Transaction) { tx.DeleteElements("s4", []Interval{nlIv("11.0.0.0", "11.0.0.0")}) }, 0, ErrNotFound},
		{"delete part of an element", func(tx *Transaction) {
			tx.DeleteElements("s4", []Interval{nlIv("192.168.0.1", "192.168.0.5")})
		}, 0, ErrNotFound},
		{"base chain on another priority", func(tx *Transaction) {
			tx.AddChain(Chain{Name: "base", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityMangle, Policy: PolicyAccept}})
		}, 0, ErrBusy},
		{"base chain on another hook", func(tx *Transaction) {
			tx.AddChain(Chain{Name: "base", Base: &BaseChain{Hook: HookInput, Priority: PriorityRaw, Policy: PolicyAccept}})
		}, 0, ErrBusy},
		{"regular chain over a base chain", func(tx *Transaction) { tx.AddChain(Chain{Name: "base"}) }, 0, ErrExists},
		{"base chain over a regular chain", func(tx *Transaction) {
			tx.AddChain(Chain{Name: "empty", Base: &BaseChain{Hook: HookInput, Priority: 0, Policy: PolicyAccept}})
		}, 0, ErrExists},
		{"lookup of the wrong family", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV6, AddrInSet{Family: IPv6, Set: "s4"}}})
		}, 0, ErrInvalid},
		{"lookup of the wrong family in a new set", func(tx *Transaction) {
			tx.AddSet(Set{Name: "s6", Type: SetIPv6})
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrInSet{Family: IPv4, Set: "s6"}}})
		}, 1, ErrInvalid},
		{"element of the wrong family", func(tx *Transaction) { tx.AddElements("s4", []Interval{PrefixInterval(nlPfx("fd00::/8"))}) }, 0, ErrInvalid},
		{"elements of missing set", func(tx *Transaction) { tx.AddElements("nope", []Interval{nlIv("1.2.3.4", "1.2.3.4")}) }, 0, ErrNotFound},
		{"add an existing interval", func(tx *Transaction) { tx.AddElements("s4", []Interval{PrefixInterval(nlPfx("10.0.0.0/8"))}) }, 0, ErrExists},
		{"add an existing tuple", func(tx *Transaction) {
			tx.AddTuples("np4", []AddrPort{ap("10.0.0.2", 6, 80)})
			tx.AddTuples("np4", []AddrPort{ap("10.0.0.3", 6, 80), ap("10.0.0.1", 17, 53)})
		}, 1, ErrExists},
		{"add a tuple twice", func(tx *Transaction) { tx.AddTuples("np6", []AddrPort{ap("fd00::2", 6, 80), ap("fd00::2", 6, 80)}) }, 0, ErrExists},
		{"delete a missing tuple", func(tx *Transaction) {
			tx.AddTuples("np4", []AddrPort{ap("10.0.0.2", 6, 80)})
			tx.DeleteTuples("np4", []AddrPort{ap("10.0.0.2", 6, 80), ap("10.0.0.1", 6, 53)})
		}, 1, ErrNotFound},
		{"tuple of the wrong family", func(tx *Transaction) { tx.AddTuples("np4", []AddrPort{ap("fd00::1", 6, 80)}) }, 0, ErrInvalid},
		{"tuples in an address set", func(tx *Transaction) { tx.AddTuples("s4", []AddrPort{ap("10.0.0.1", 6, 80)}) }, 0, ErrInvalid},
		{"intervals in a tuple set", func(tx *Transaction) { tx.AddElements("np4", []Interval{nlIv("1.2.3.4", "1.2.3.4")}) }, 0, ErrInvalid},
		{"tuples of missing set", func(tx *Transaction) { tx.AddTuples("nope", []AddrPort{ap("10.0.0.1", 6, 80)}) }, 0, ErrNotFound},
		{"delete tuple set in use", func(tx *Transaction) { tx.DeleteSet("np4") }, 0, ErrBusy},
		{"add tuple set as an address set", func(tx *Transaction) { tx.AddSet(Set{Name: "np4", Type: SetIPv4}) }, 0, ErrExists},
		{"add address set as a tuple set", func(tx *Transaction) { tx.AddSet(Set{Name: "s4", Type: SetIPv4ProtoPort}) }, 0, ErrExists},
		{"add tuple set of the other family", func(tx *Transaction) { tx.AddSet(Set{Name: "np4", Type: SetIPv6ProtoPort}) }, 0, ErrExists},
		{"tuple lookup in an address set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrPortInSet{Family: IPv4, Set: "s4"}}})
		}, 0, ErrInvalid},
		{"address lookup in a tuple set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrInSet{Family: IPv4, Set: "np4"}}})
		}, 0, ErrInvalid},
		{"IPv6 address lookup in a tuple set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV6, AddrInSet{Family: IPv6, Set: "np6"}}})
		}, 0, ErrInvalid},
		{"tuple lookup of the wrong family", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV6, AddrPortInSet{Family: IPv6, Set: "np4"}}})
		}, 0, ErrInvalid},
		{"tuple lookup of the wrong family in a new set", func(tx *Transaction) {
			tx.AddSet(Set{Name: "np6b", Type: SetIPv6ProtoPort})
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrPortInSet{Family: IPv4, Set: "np6b"}}})
		}, 1, ErrInvalid},
		{"tuple lookup in missing set", func(tx *Transaction) {
			tx.AddRule("target", Rule{Exprs: []Expr{nlV4, AddrPortInSet{Family: IPv4, Set: "nope"}}})
		}, 0, ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tx := &Transaction{}
			c.ops(tx)
			ferr := f.Run(nlCtx(t), tx)
			nerr := n.Run(nlCtx(t), tx)
			t.Logf("fake: %v\nkernel: %v", ferr, nerr)
			for _, w := range []struct {
				who string
				err error
			}{{"Fake", ferr}, {"Netlink", nerr}} {
				if !errorsIs(w.err, c.want) || nlOpIndex(w.err) != c.index {
					t.Errorf("%s: got %v (index %d), want %v at index %d", w.who, w.err, nlOpIndex(w.err), c.want, c.index)
				}
			}
			if after := nlList(t, n); !reflect.DeepEqual(after, before) {
				t.Errorf("kernel table changed by a rejected transaction:\nbefore %s\nafter %s", canonState(before), canonState(after))
			}
			if afterText := ns.MustExec(t, "nft", "list", "table", "inet", TableName); afterText != beforeText {
				t.Errorf("nft listing changed by a rejected transaction:\nbefore:\n%s\nafter:\n%s", beforeText, afterText)
			}
		})
	}
}

// TestNetlinkEncodeErrors checks the rules Netlink refuses before sending
// anything.
func TestNetlinkEncodeErrors(t *testing.T) {
	n, _ := kernelNetlink(t)
	cases := map[string][]Expr{
		"ports without protocol":      {Ports{Field: DstPort, Ranges: []PortRange{{1, 1}}}},
		"ports after negated proto":   {L4Proto{Proto: 6, Neg: true}, Ports{Ranges: []PortRange{{1, 1}}}},
		"ports of icmp":               {L4Proto{Proto: 1}, Ports{Ranges: []PortRange{{1, 1}}}},
		"address without family":      {Addrs{Family: IPv4, Prefixes: []netip.Prefix{nlPfx("1.0.0.0/8")}}},
		"address of other family":     {nlV6, Addrs{Family: IPv4, Prefixes: []netip.Prefix{nlPfx("1.0.0.0/8")}}},
		"v6 prefix in v4 match":       {nlV4, Addrs{Family: IPv4, Prefixes: []netip.Prefix{nlPfx("::/8")}}},
		"set lookup without family":   {AddrInSet{Family: IPv4, Set: "s"}},
		"tuple lookup without family": {AddrPortInSet{Family: IPv4, Set: "s"}},
		"tuple lookup without set":    {nlV4, AddrPortInSet{Family: IPv4}},
		"icmp without protocol":       {ICMP{Type: 8}},
		"icmpv6 after icmp":           {L4Proto{Proto: 1}, ICMP{V6: true, Type: 128}},
		"long interface name":         {IfName{Name: "0123456789abcdef"}},
		"empty ports":                 {nlTCP, Ports{}},
		"reversed port range":         {nlTCP, Ports{Ranges: []PortRange{{10, 5}}}},
		"jump without chain":          {Verdict{Kind: Jump}},
		"no conntrack state":          {CTStateIn{}},
		"nil expression":              {nil},
	}
	for name, exprs := range cases {
		tx := &Transaction{}
		tx.AddTable()
		tx.AddChain(Chain{Name: "c"})
		tx.AddRule("c", Rule{Exprs: exprs})
		err := n.Run(nlCtx(t), tx)
		if !errorsIs(err, ErrInvalid) || nlOpIndex(err) != 2 {
			t.Errorf("%s: got %v, want ErrInvalid at operation 2", name, err)
		}
	}
	if st := nlList(t, n); st != nil {
		t.Errorf("a refused transaction created the table")
	}
}

// TestNetlinkListReadsNftWrittenSet reads a set that nft filled: nft adds a
// leading "interval end at 0.0.0.0" element and marks open intervals in
// element userdata; List must return just the intervals.
func TestNetlinkListReadsNftWrittenSet(t *testing.T) {
	n, ns := kernelNetlink(t)
	ns.MustExec(t, "nft", "add table inet "+TableName+
		"; add set inet "+TableName+" s { type ipv4_addr; flags interval; }"+
		"; add element inet "+TableName+" s { 10.0.0.0/8, 192.168.0.1, 240.0.0.0/4 }")
	want := []Interval{PrefixInterval(nlPfx("10.0.0.0/8")), nlIv("192.168.0.1", "192.168.0.1"), PrefixInterval(nlPfx("240.0.0.0/4"))}
	if got := nlList(t, n).Sets["s"].Elements; !slices.Equal(got, want) {
		t.Errorf("elements %v, want %v", got, want)
	}
	// And Netlink can delete exactly what nft added.
	tx := &Transaction{}
	tx.DeleteElements("s", want[1:])
	nlRun(t, n, tx)
	if got := nlList(t, n).Sets["s"].Elements; !slices.Equal(got, want[:1]) {
		t.Errorf("after deleting: %v", got)
	}
}
