package nft

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestNetlinkForeignBaseChains creates other tables of several families
// with nft and checks that ForeignBaseChains reports their base chains, and
// neither their regular chains nor untrackd's own.
func TestNetlinkForeignBaseChains(t *testing.T) {
	n, ns := kernelNetlink(t)
	if got, err := n.ForeignBaseChains(nlCtx(t)); err != nil || len(got) != 0 {
		t.Fatalf("empty namespace: %v, %v", got, err)
	}
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "raw", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	nlRun(t, n, tx)
	script := `
table ip filter {
	chain INPUT { type filter hook input priority 0; policy drop; }
	chain helper { }
}
table ip6 mangle {
	chain PREROUTING { type filter hook prerouting priority -150; policy accept; }
}
table inet other {
	chain out { type filter hook output priority 10; policy accept; }
	chain nat-pre { type nat hook prerouting priority -100; policy accept; }
}
table netdev edge {
	chain ing { type filter hook ingress device "lo" priority -500; policy accept; }
}
table arp a {
	chain in { type filter hook input priority 0; policy accept; }
}
table bridge br {
	chain fw { type filter hook forward priority 0; policy drop; }
}
`
	file := filepath.Join(t.TempDir(), "foreign.nft")
	if err := os.WriteFile(file, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	ns.MustExec(t, "nft", "-f", file)

	got, err := n.ForeignBaseChains(nlCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []ForeignChain{
		{Family: "arp", Table: "a", Chain: "in", Hook: "input", Priority: 0, Policy: PolicyAccept},
		{Family: "bridge", Table: "br", Chain: "fw", Hook: HookForward, Priority: 0, Policy: PolicyDrop},
		{Family: "inet", Table: "other", Chain: "nat-pre", Hook: HookPrerouting, Priority: -100, Policy: PolicyAccept},
		{Family: "inet", Table: "other", Chain: "out", Hook: HookOutput, Priority: 10, Policy: PolicyAccept},
		{Family: "ip", Table: "filter", Chain: "INPUT", Hook: HookInput, Priority: 0, Policy: PolicyDrop},
		{Family: "ip6", Table: "mangle", Chain: "PREROUTING", Hook: HookPrerouting, Priority: -150, Policy: PolicyAccept},
		{Family: "netdev", Table: "edge", Chain: "ing", Hook: "ingress", Priority: -500, Policy: PolicyAccept},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ForeignBaseChains:\n got  %+v\n want %+v", got, want)
	}
}
