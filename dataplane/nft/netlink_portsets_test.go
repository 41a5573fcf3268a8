package nft

import (
	"slices"
	"strings"
	"testing"
)

// TestNetlinkPortSets checks port sets in the kernel: read back with their
// ranges, constant (the kernel refuses element changes and deletion while
// a rule uses them, leaving the table as it was), and deletable once no
// rule does.
func TestNetlinkPortSets(t *testing.T) {
	n, ns := kernelNetlink(t)
	ports := []PortRange{{0, 10}, {22, 22}, {8000, 8999}, {65535, 65535}}
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "ports-a", Type: SetPorts, Ports: ports})
	tx.AddSet(Set{Name: "ports-b", Type: SetPorts, Ports: []PortRange{{53, 53}, {67, 68}}})
	tx.AddChain(Chain{Name: "c"})
	tx.AddRule("c", Rule{Exprs: []Expr{L4Proto{Proto: 6}, Ports{Field: DstPort, Ranges: ports, Set: "ports-a"}, Verdict{Kind: Accept}}})
	nlRun(t, n, tx)

	st := nlList(t, n)
	if got := st.Sets["ports-a"]; got == nil || got.Type != SetPorts || !slices.Equal(got.Ports, ports) {
		t.Fatalf("ports-a read back as %+v, want ports %v", got, ports)
	}
	if got := st.Sets["ports-b"]; got == nil || !slices.Equal(got.Ports, []PortRange{{53, 53}, {67, 68}}) {
		t.Fatalf("ports-b read back as %+v", got)
	}
	before := ns.MustExec(t, "nft", "list", "table", "inet", TableName)

	for name, bad := range map[string]func(*Transaction){
		"delete a port set in use": func(tx *Transaction) { tx.DeleteSet("ports-a") },
	} {
		tx := &Transaction{}
		bad(tx)
		if err := n.Run(nlCtx(t), tx); err == nil {
			t.Errorf("%s: the kernel accepted it", name)
		}
	}
	// Another process adding an element to a constant set in use.
	if out, err := ns.Exec("nft", "add", "element", "inet", TableName, "ports-a", "{ 443 }"); err == nil {
		t.Errorf("nft added an element to a constant set in use: %s", out)
	}
	if after := ns.MustExec(t, "nft", "list", "table", "inet", TableName); after != before {
		t.Fatalf("refused changes altered the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	tx = &Transaction{}
	tx.FlushChain("c")
	tx.DeleteSet("ports-a")
	tx.DeleteSet("ports-b")
	nlRun(t, n, tx)
	if out := ns.MustExec(t, "nft", "list", "table", "inet", TableName); strings.Contains(out, "ports-") {
		t.Fatalf("port sets left after deletion:\n%s", out)
	}
}
