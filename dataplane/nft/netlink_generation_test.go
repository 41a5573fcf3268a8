package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestOthersCommitted checks, in a real namespace, that the writer's own
// transactions (also a rejected one) are never reported, that another
// process's commit is, to any table, once, and that a List made after it
// covers it.
func TestOthersCommitted(t *testing.T) {
	n, ns := kernelNetlink(t)
	ctx := nlCtx(t)
	others := func() bool {
		t.Helper()
		got, err := n.OthersCommitted(ctx)
		if err != nil {
			t.Fatalf("OthersCommitted: %v", err)
		}
		return got
	}
	if others() {
		t.Fatal("reported before anything happened")
	}

	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "c"})
	tx.AddSet(Set{Name: "s", Type: SetIPv4})
	tx.AddElements("s", []Interval{PrefixInterval(netip.MustParsePrefix("10.0.0.0/8"))})
	nlRun(t, n, tx)
	tx = &Transaction{}
	tx.AddRule("c", Rule{Comment: "r", Exprs: []Expr{nlTCP, Verdict{Kind: Accept}}})
	nlRun(t, n, tx)
	bad := &Transaction{}
	bad.AddRule("missing", Rule{Comment: "r", Exprs: []Expr{Verdict{Kind: Accept}}})
	if err := n.Run(ctx, bad); err == nil {
		t.Fatal("a rule in a missing chain was accepted")
	}
	if others() {
		t.Fatal("the writer's own transactions were reported")
	}

	// Someone else, in another table: reported once.
	ns.MustExec(t, "nft", "add", "table", "inet", "operator")
	if !others() {
		t.Fatal("another process's commit was not reported")
	}
	if others() {
		t.Fatal("reported twice")
	}

	// A foreign commit between two of the writer's own: still reported.
	nlRun(t, n, tx)
	ns.MustExec(t, "nft", "add", "rule", "inet", "untrackd", "c", "tcp", "dport", "1", "drop")
	nlRun(t, n, tx)
	if !others() {
		t.Fatal("a commit between two of the writer's own was not reported")
	}

	// A List after the commit covers it.
	ns.MustExec(t, "nft", "flush", "chain", "inet", "untrackd", "c")
	nlList(t, n)
	if others() {
		t.Fatal("reported a commit that a later List had read")
	}
}

// TestListIsASnapshot lists the table while another process keeps
// swapping its contents between two states, each in one transaction, and
// checks that every listing is one of them, never a mix.
func TestListIsASnapshot(t *testing.T) {
	n, ns := kernelNetlink(t)
	ctx := nlCtx(t)
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "a"})
	tx.AddChain(Chain{Name: "b"})
	tx.AddSet(Set{Name: "x", Type: SetIPv4})
	tx.AddSet(Set{Name: "y", Type: SetIPv4})
	nlRun(t, n, tx)

	// State A: 40 rules in a, 200 elements in x; state B: the reverse.
	dir := t.TempDir()
	write := func(name, full, empty, fullSet, emptySet string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "flush chain inet untrackd %s\nflush set inet untrackd %s\n", empty, emptySet)
		fmt.Fprintf(&b, "flush chain inet untrackd %s\nflush set inet untrackd %s\n", full, fullSet)
		for i := 0; i < 40; i++ {
			fmt.Fprintf(&b, "add rule inet untrackd %s tcp dport %d accept\n", full, 1000+i)
		}
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&b, "add element inet untrackd %s { 10.1.%d.%d }\n", fullSet, i/100, i%100)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fileA := write("a.nft", "a", "b", "x", "y")
	fileB := write("b.nft", "b", "a", "y", "x")
	ns.MustExec(t, "nft", "-f", fileA)

	var stop atomic.Bool
	swaps := make(chan int)
	go func() {
		i := 0
		for ; !stop.Load() && i < 5000; i++ {
			f := fileA
			if i%2 == 0 {
				f = fileB
			}
			if _, err := ns.Exec("nft", "-f", f); err != nil {
				break
			}
		}
		swaps <- i
	}()
	consistent, changing := 0, 0
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		st, err := n.List(ctx)
		if errors.Is(err, errTableChanging) {
			changing++
			continue
		}
		if err != nil {
			stop.Store(true)
			<-swaps
			t.Fatalf("List: %v", err)
		}
		ra, rb := len(st.Chains["a"].Rules), len(st.Chains["b"].Rules)
		ex, ey := len(st.Sets["x"].Elements), len(st.Sets["y"].Elements)
		isA := ra == 40 && rb == 0 && ex == 200 && ey == 0
		isB := ra == 0 && rb == 40 && ex == 0 && ey == 200
		if !isA && !isB {
			t.Errorf("a mixed listing: chain a %d rules, b %d; set x %d elements, y %d", ra, rb, ex, ey)
		}
		consistent++
	}
	stop.Store(true)
	n2 := <-swaps
	t.Logf("%d consistent listings, %d gave up (table kept changing), while another process made %d swaps", consistent, changing, n2)
	if consistent == 0 || n2 < 10 {
		t.Fatalf("the test did not exercise List under concurrent commits: %d listings, %d swaps", consistent, n2)
	}
}
