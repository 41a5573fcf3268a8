package nft

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// nftSource is the nft syntax for a rule: its String(), except where that is
// not nft input syntax.
func nftSource(r Rule) string {
	var parts []string
	for _, e := range r.Exprs {
		switch e := e.(type) {
		case ICMP:
			k := "icmp"
			if e.V6 {
				k = "icmpv6"
			}
			switch {
			case e.HasCode && e.Neg:
				parts = append(parts, fmt.Sprintf("%s type . %s code != { %d . %d }", k, k, e.Type, e.Code))
			case e.HasCode:
				parts = append(parts, fmt.Sprintf("%s type %d %s code %d", k, e.Type, k, e.Code))
			default:
				parts = append(parts, e.String())
			}
		case Log:
			if e.Prefix == "" {
				parts = append(parts, "log")
			} else {
				parts = append(parts, e.String())
			}
		default:
			parts = append(parts, e.String())
		}
	}
	return strings.Join(parts, " ")
}

// TestNetlinkBytecodeMatchesNft writes every rule of nftTextCases twice,
// once through Netlink and once through `nft -f` from its nft syntax, reads
// both back from the kernel and compares the expressions, and the contents
// of the anonymous sets they use: Netlink must encode exactly as nft does.
func TestNetlinkBytecodeMatchesNft(t *testing.T) {
	n, ns := kernelNetlink(t)
	cases := nftTextCases()
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "s4-test", Type: SetIPv4})
	tx.AddSet(Set{Name: "s6-test", Type: SetIPv6})
	tx.AddSet(Set{Name: "np4-test", Type: SetIPv4ProtoPort})
	tx.AddSet(Set{Name: "np6-test", Type: SetIPv6ProtoPort})
	tx.AddSet(Set{Name: "p-test", Type: SetPorts, Ports: testPorts})
	tx.AddChain(Chain{Name: "target"})
	tx.AddChain(Chain{Name: "ours"})
	tx.AddChain(Chain{Name: "theirs"})
	var script strings.Builder
	for _, c := range cases {
		tx.AddRule("ours", c.rule)
		fmt.Fprintf(&script, "add rule inet %s theirs %s\n", TableName, nftSource(c.rule))
	}
	nlRun(t, n, tx)
	file := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(file, []byte(script.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.MustExec(t, "nft", "-f", file)

	ours := decodedRules(t, n, "ours")
	theirs := decodedRules(t, n, "theirs")
	if len(ours) != len(cases) || len(theirs) != len(cases) {
		t.Fatalf("got %d and %d rules, want %d", len(ours), len(theirs), len(cases))
	}
	for i, c := range cases {
		if !slices.Equal(ours[i], theirs[i]) {
			t.Errorf("rule %d %q\n  netlink: %s\n  nft:     %s", i, nftSource(c.rule),
				strings.Join(ours[i], "\n           "), strings.Join(theirs[i], "\n           "))
		}
	}
}

// decodedRules returns each rule of the chain as printed expressions, with
// lookups of anonymous sets replaced by the sets' properties and elements.
func decodedRules(t *testing.T, n *Netlink, chain string) [][]string {
	t.Helper()
	rules, err := n.conn.GetRules(n.table, &nftables.Chain{Table: n.table, Name: chain})
	if err != nil {
		t.Fatalf("GetRules %s: %v", chain, err)
	}
	var out [][]string
	for _, r := range rules {
		var es []string
		for _, e := range r.Exprs {
			l, ok := e.(*expr.Lookup)
			if !ok || !strings.HasPrefix(l.SetName, "__set") {
				es = append(es, fmt.Sprintf("%T%+v", e, e))
				continue
			}
			es = append(es, fmt.Sprintf("lookup sreg=%d invert=%v %s", l.SourceRegister, l.Invert, anonSetString(t, n, l.SetName)))
		}
		out = append(out, es)
	}
	return out
}

func anonSetString(t *testing.T, n *Netlink, name string) string {
	t.Helper()
	s, err := n.conn.GetSetByName(n.table, name)
	if err != nil {
		t.Fatalf("GetSetByName %s: %v", name, err)
	}
	elems, err := n.conn.GetSetElements(s)
	if err != nil {
		t.Fatalf("GetSetElements %s: %v", name, err)
	}
	var es []string
	slices.SortFunc(elems, func(a, b nftables.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(fmt.Sprint(a.IntervalEnd), fmt.Sprint(b.IntervalEnd))
	})
	for _, e := range elems {
		es = append(es, fmt.Sprintf("%x/end=%v", e.Key, e.IntervalEnd))
	}
	return fmt.Sprintf("set{anon=%v const=%v interval=%v key=%s/%d elems=[%s]}",
		s.Anonymous, s.Constant, s.Interval, s.KeyType.Name, s.KeyType.Bytes, strings.Join(es, " "))
}
