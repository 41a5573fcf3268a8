package nft

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane/netnstest"
)

// TestTraceMatchesKernel programs one ruleset into a Fake and, through
// Netlink, into a server namespace, then for each of a set of ports
// compares what the tracer predicts for a TCP connection (its SYN, state
// new, and its later packets, state established, through prerouting and
// input) with what the kernel does to a real one: whether it gets through,
// and whether conntrack tracks it. The ruleset exercises the places where
// a naive evaluator goes wrong: ct state in a chain before conntrack,
// notrack before and after conntrack, a mark set in one chain, changed in
// a second and tested in a third, goto versus jump, and return.
func TestTraceMatchesKernel(t *testing.T) {
	n, srv := kernelNetlink(t)
	cli := netnstest.New(t, "utcli")
	netnstest.Link(t, cli, "veth-c", []string{"10.99.0.2/24", "fd99::2/64"}, srv, "veth-s", []string{"10.99.0.1/24", "fd99::1/64"})
	port := func(p uint16) []Expr { return []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{p, p}}}} }
	rule := func(head []Expr, tail ...Expr) Rule { return Rule{Exprs: append(append([]Expr{}, head...), tail...)} }
	ctIs := func(s CTState) CTStateIn { return CTStateIn{States: s} }
	drop := Verdict{Kind: Drop}

	expect := map[uint16]struct {
		passes, tracked bool
		why             string
	}{
		14001: {true, false, "notrack in raw"},
		14002: {true, true, "ct state new in raw sees no entry (invalid): not dropped"},
		14003: {false, false, "ct state invalid in raw: notrack; untracked dropped at input"},
		14004: {false, true, "mark set in a jumped-to raw chain, changed at mangle, dropped at input"},
		14005: {true, true, "goto from raw: the drop after it is not reached"},
		14006: {true, true, "notrack at mangle, after conntrack: no effect"},
		14007: {true, true, "goto then return at input: policy, the drop after it is not reached"},
		14008: {false, true, "jump then return at input: the drop after it is reached"},
		14009: {false, true, "ct state new dropped at input"},
		14010: {false, true, "ct state established dropped at input: the handshake's ACK and data"},
		14011: {true, true, "nothing"},
	}

	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "raw-pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "mangle-pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityMangle, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "filter-in", Base: &BaseChain{Hook: HookInput, Priority: PriorityFilter, Policy: PolicyAccept}})
	for _, c := range []string{"raw-pol", "raw-goto", "in-goto", "in-jump"} {
		tx.AddChain(Chain{Name: c})
	}
	tx.AddRule("raw-pre", rule(port(14001), Notrack{}))
	tx.AddRule("raw-pre", rule(port(14002), ctIs(CTNew), drop))
	tx.AddRule("raw-pre", rule(port(14003), ctIs(CTInvalid), Notrack{}))
	tx.AddRule("raw-pre", rule(port(14004), Verdict{Kind: Jump, Chain: "raw-pol"}))
	tx.AddRule("raw-pol", rule(port(14004), SetMarkBits{Bits: 0x10}))
	tx.AddRule("raw-pol", Rule{Exprs: []Expr{Verdict{Kind: Return}}})
	tx.AddRule("raw-pol", Rule{Exprs: []Expr{drop}})
	tx.AddRule("raw-pre", rule(port(14005), Verdict{Kind: Goto, Chain: "raw-goto"}))
	tx.AddRule("raw-goto", Rule{Exprs: []Expr{Counter{}}})
	tx.AddRule("raw-pre", rule(port(14005), drop))
	tx.AddRule("mangle-pre", Rule{Exprs: []Expr{Mark{Mask: 0x10, Value: 0x10}, SetMarkBits{Bits: 0x20}}})
	tx.AddRule("mangle-pre", rule(port(14006), Notrack{}))
	tx.AddRule("filter-in", rule(port(14003), ctIs(CTUntracked), drop))
	tx.AddRule("filter-in", rule(port(14004), Mark{Mask: 0x30, Value: 0x30}, drop))
	tx.AddRule("filter-in", rule(port(14006), ctIs(CTUntracked), drop))
	tx.AddRule("filter-in", rule(port(14007), Verdict{Kind: Goto, Chain: "in-goto"}))
	tx.AddRule("in-goto", Rule{Exprs: []Expr{Verdict{Kind: Return}}})
	tx.AddRule("filter-in", rule(port(14007), drop))
	tx.AddRule("filter-in", rule(port(14008), Verdict{Kind: Jump, Chain: "in-jump"}))
	tx.AddRule("in-jump", Rule{Exprs: []Expr{Verdict{Kind: Return}}})
	tx.AddRule("filter-in", rule(port(14008), drop))
	tx.AddRule("filter-in", rule(port(14009), ctIs(CTNew), drop))
	tx.AddRule("filter-in", rule(port(14010), ctIs(CTEstablished), drop))
	f := NewFake()
	applyBoth(t, f, n, tx)

	for p := range expect {
		srv.TCPServe(t, fmt.Sprintf("10.99.0.1:%d", p))
		srv.TCPServe(t, fmt.Sprintf("[fd99::1]:%d", p))
	}
	var wg sync.WaitGroup
	for p, want := range expect {
		for _, fam := range []struct{ cli, srv string }{{"10.99.0.2", "10.99.0.1"}, {"fd99::2", "fd99::1"}} {
			syn := Packet{IIF: "veth-s", Src: nlAddr(fam.cli), Dst: nlAddr(fam.srv), Proto: 6, SrcPort: 40000, DstPort: p, CTState: CTNew}
			first := f.TraceHooks(syn, HookPrerouting, HookInput)
			later := syn
			later.CTState = CTEstablished
			rest := f.TraceHooks(later, HookPrerouting, HookInput)
			predicted := first.Verdict == Accept && rest.Verdict == Accept
			untracked := first.CTState == CTUntracked
			if predicted != want.passes || untracked == want.tracked {
				t.Errorf("port %d (%s): the tracer predicts passing %v, untracked %v (first packet %+v, later ones %+v)",
					p, want.why, predicted, untracked, first, rest)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				wait := 5 * time.Second
				if !want.passes {
					wait = dropWait
				}
				err := cli.TCPConnect(net.JoinHostPort(fam.srv, fmt.Sprint(p)), wait)
				if (err == nil) != predicted {
					t.Errorf("port %d to %s (%s): kernel: error %v; the tracer predicted passing %v", p, fam.srv, want.why, err, predicted)
				}
			}()
		}
	}
	wg.Wait()
	for p, want := range expect {
		if !want.passes {
			continue
		}
		c := srv.ConntrackCount(t, "-p", "tcp", "--dport", fmt.Sprint(p))
		if (c > 0) != want.tracked {
			t.Errorf("port %d (%s): %d conntrack entries, want tracked %v", p, want.why, c, want.tracked)
		}
	}
}
