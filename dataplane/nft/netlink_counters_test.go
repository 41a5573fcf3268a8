package nft

import (
	"testing"
	"time"
)

// TestNetlinkRuleCounters counts real packets: connections on the
// namespace's loopback pass an accept rule and hit a drop rule, and
// RuleCounters reports each rule's chain, comment, verdict and counts.
func TestNetlinkRuleCounters(t *testing.T) {
	n, ns := kernelNetlink(t)
	if got, err := n.RuleCounters(nlCtx(t)); err != nil || got != nil {
		t.Fatalf("no table: %v, %v; want nil, nil", got, err)
	}
	ns.MustExec(t, "ip", "link", "set", "lo", "up")
	ns.TCPServe(t, "127.0.0.1:12311")

	dport := func(p uint16) []Expr { return []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{p, p}}}} }
	allow := Rule{Exprs: append(dport(12311), Counter{}, Verdict{Kind: Accept}), Comment: "allow-it ingress 0"}
	deny := Rule{Exprs: append(dport(12312), Counter{}, Verdict{Kind: Drop}), Comment: "deny-it egress 1"}
	logged := Rule{Exprs: append(dport(12313), Counter{}, Log{Prefix: "x"}), Comment: "log-it ingress 2"}
	tx := &Transaction{}
	tx.AddTable()
	tx.AddChain(Chain{Name: "out", Base: &BaseChain{Hook: HookOutput, Priority: PriorityFilter, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "pol"})
	tx.AddRule("out", Rule{Exprs: []Expr{Verdict{Kind: Jump, Chain: "pol"}}}) // no counter: not reported
	tx.AddRule("pol", logged)
	tx.AddRule("pol", deny)
	tx.AddRule("pol", allow)
	nlRun(t, n, tx)

	const conns = 3
	for i := 0; i < conns; i++ {
		if err := ns.TCPConnect("127.0.0.1:12311", 5*time.Second); err != nil {
			t.Fatalf("connect to the allowed port: %v", err)
		}
	}
	if err := ns.TCPConnect("127.0.0.1:12312", 300*time.Millisecond); err == nil {
		t.Fatal("connect to the denied port succeeded")
	}

	got, err := n.RuleCounters(nlCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d counted rules, want 3: %+v", len(got), got)
	}
	byComment := map[string]RuleCounter{}
	for _, rc := range got {
		if rc.Chain != "pol" || rc.Handle == 0 {
			t.Errorf("rule %+v: want chain pol and a handle", rc)
		}
		byComment[rc.Comment] = rc
	}
	a, d, l := byComment[allow.StoredComment()], byComment[deny.StoredComment()], byComment[logged.StoredComment()]
	// Each connection sends at least a SYN, the ACK and the request.
	if a.Packets < 3*conns || a.Bytes < a.Packets*40 || a.Verdict == nil || a.Verdict.Kind != Accept || a.Log {
		t.Errorf("allow rule %+v: want ≥ %d packets and an accept verdict", a, 3*conns)
	}
	if d.Packets < 1 || d.Verdict == nil || d.Verdict.Kind != Drop {
		t.Errorf("deny rule %+v: want ≥ 1 packet (the SYN and its retries) and a drop verdict", d)
	}
	if l.Packets != 0 || l.Verdict != nil || !l.Log {
		t.Errorf("log rule %+v: want 0 packets, no verdict, logging", l)
	}
}
