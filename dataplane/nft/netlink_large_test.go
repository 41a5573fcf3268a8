package nft

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spacedIntervals returns n two-address intervals starting at base, with a
// gap between each.
func spacedIntervals(base netip.Addr, n int) []Interval {
	out := make([]Interval, n)
	a := base
	for i := range out {
		out[i] = Interval{First: a, Last: a.Next()}
		a = a.Next().Next().Next().Next()
	}
	return out
}

// TestNetlinkLargeSet writes 100,000 IPv4 and 30,000 IPv6 intervals in one
// Run (about 5 MB in one batch: far above the default socket buffers, and
// over a hundred element messages), reads them back exactly, then changes
// half of them in a second Run.
func TestNetlinkLargeSet(t *testing.T) {
	if testing.Short() {
		t.Skip("large set test skipped in -short mode")
	}
	n, ns := kernelNetlink(t)
	big4 := spacedIntervals(nlAddr("10.0.0.0"), 100_000)
	big6 := spacedIntervals(nlAddr("fd00::"), 30_000)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "big4", Type: SetIPv4})
	tx.AddSet(Set{Name: "big6", Type: SetIPv6})
	tx.AddElements("big4", big4)
	tx.AddElements("big6", big6)
	start := time.Now()
	nlRun(t, n, tx)
	t.Logf("Run of 100,000 + 30,000 intervals: %v", time.Since(start))

	start = time.Now()
	st := nlList(t, n)
	t.Logf("List of them: %v", time.Since(start))
	if got := st.Sets["big4"].Elements; !slices.Equal(got, big4) {
		t.Fatalf("big4: read back %d intervals, want %d (first diff %s)", len(got), len(big4), firstDiff(got, big4))
	}
	if got := st.Sets["big6"].Elements; !slices.Equal(got, big6) {
		t.Fatalf("big6: read back %d intervals, want %d (first diff %s)", len(got), len(big6), firstDiff(got, big6))
	}
	if out := ns.MustExec(t, "nft", "get", "element", "inet", TableName, "big4", "{ 10.6.26.124 }"); !strings.Contains(out, "10.6.26.124/31") {
		t.Errorf("nft get element of the last interval: %s", out)
	}

	// Delete every other interval and add new ones, in one Run.
	var del, keep []Interval
	for i, iv := range big4 {
		if i%2 == 0 {
			del = append(del, iv)
		} else {
			keep = append(keep, iv)
		}
	}
	added := spacedIntervals(nlAddr("20.0.0.0"), 20_000)
	tx = &Transaction{}
	tx.DeleteElements("big4", del)
	tx.AddElements("big4", added)
	start = time.Now()
	nlRun(t, n, tx)
	t.Logf("Run deleting 50,000 and adding 20,000 intervals: %v", time.Since(start))
	want := append(keep, added...)
	if got := nlList(t, n).Sets["big4"].Elements; !slices.Equal(got, want) {
		t.Fatalf("after the change: read back %d intervals, want %d (first diff %s)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []Interval) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("at %d: %s-%s vs %s-%s", i, a[i].First, a[i].Last, b[i].First, b[i].Last)
		}
	}
	return "in length"
}

// TestNetlinkManyRules writes 5,000 rules in one Run: with an
// acknowledgement per message, as the library's Flush asks for, that many
// replies overflow a default receive buffer (ENOBUFS). Then a transaction
// of 3,000 failing rules must fail on its first bad operation and change
// nothing.
func TestNetlinkManyRules(t *testing.T) {
	n, _ := kernelNetlink(t)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "c"})
	var want []string
	for i := range 5000 {
		r := Rule{Exprs: []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{uint16(i), uint16(i)}}}, Counter{}, Verdict{Kind: Accept}}}
		tx.AddRule("c", r)
		want = append(want, r.Hash())
	}
	start := time.Now()
	nlRun(t, n, tx)
	t.Logf("Run of 5,000 rules: %v", time.Since(start))
	start = time.Now()
	before := nlList(t, n)
	t.Logf("List of 5,000 rules: %v", time.Since(start))
	if got := before.Chains["c"].Hashes(); !slices.Equal(got, want) {
		t.Fatalf("read back %d rule hashes, want %d in order", len(got), len(want))
	}

	tx = &Transaction{}
	tx.FlushChain("c")
	tx.AddRule("c", Rule{Exprs: []Expr{Counter{}}})
	for range 3000 {
		tx.AddRule("c", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "missing"}}})
	}
	err := n.Run(nlCtx(t), tx)
	if !errorsIs(err, ErrNotFound) || nlOpIndex(err) != 2 {
		t.Fatalf("got %v, want ErrNotFound at operation 2", err)
	}
	if after := nlList(t, n); !reflect.DeepEqual(after, before) {
		t.Fatal("a rejected transaction changed the table")
	}
}

// TestNetlinkReceiveOverrun shrinks the socket's receive buffer so that the
// kernel's error replies to a failing batch overflow it (ENOBUFS): Run must
// still report failure, and the next Run must work.
func TestNetlinkReceiveOverrun(t *testing.T) {
	n, _ := kernelNetlink(t)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "c"})
	nlRun(t, n, tx)

	rc, err := n.sock.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	_ = rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096) })
	if serr != nil {
		t.Fatal(serr)
	}
	n.rcvbuf = 1 << 30 // keep Run from enlarging it again

	tx = &Transaction{}
	for range 2000 {
		tx.AddRule("c", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "missing"}}})
	}
	err = n.Run(nlCtx(t), tx)
	t.Logf("Run: %v", err)
	if err == nil {
		t.Fatal("a failing batch whose replies overflowed reported success")
	}
	if st := nlList(t, n); len(st.Chains["c"].Rules) != 0 {
		t.Fatal("rules were added")
	}
	tx = &Transaction{}
	tx.AddRule("c", Rule{Exprs: []Expr{Counter{}}})
	nlRun(t, n, tx)
	if st := nlList(t, n); len(st.Chains["c"].Rules) != 1 {
		t.Fatal("the Run after the overrun did not apply")
	}
}

// TestNetlinkHandlesStable checks that rewriting one chain (flush and add)
// leaves the handles of another chain's rules alone.
func TestNetlinkHandlesStable(t *testing.T) {
	n, _ := kernelNetlink(t)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "a"})
	tx.AddChain(Chain{Name: "b"})
	for i := range 3 {
		tx.AddRule("a", Rule{Exprs: []Expr{Log{Prefix: fmt.Sprint("a", i)}}})
		tx.AddRule("b", Rule{Exprs: []Expr{Log{Prefix: fmt.Sprint("b", i)}}})
	}
	nlRun(t, n, tx)
	before := nlList(t, n)

	tx = &Transaction{}
	tx.FlushChain("b")
	tx.AddRule("b", Rule{Exprs: []Expr{Log{Prefix: "b-new"}}})
	tx.DeleteRule("a", before.Chains["a"].Rules[1].Handle)
	nlRun(t, n, tx)
	after := nlList(t, n)

	wantA := []RuleState{before.Chains["a"].Rules[0], before.Chains["a"].Rules[2]}
	if !slices.Equal(after.Chains["a"].Rules, wantA) {
		t.Errorf("chain a: %v, want %v", after.Chains["a"].Rules, wantA)
	}
	b := after.Chains["b"].Rules
	if len(b) != 1 || b[0].Hash != (Rule{Exprs: []Expr{Log{Prefix: "b-new"}}}).Hash() {
		t.Errorf("chain b: %v", b)
	}
	for _, r := range before.Chains["b"].Rules {
		if r.Handle == b[0].Handle {
			t.Errorf("new rule reuses handle %d", r.Handle)
		}
	}
}
