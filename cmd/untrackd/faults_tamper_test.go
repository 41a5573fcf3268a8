package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/faults"
)

// operatorRuleset is an operator's own nftables table, which untrackd must
// never touch. It accepts untracked packets, as README asks of a stateful
// firewall next to untrackd.
const operatorRuleset = `table inet operator {
	set admins {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2 }
	}
	chain in {
		type filter hook input priority 10; policy accept;
		ct state untracked accept
		ip saddr @admins counter accept
	}
}
`

// operatorTable lists the operator's table, counters blanked.
func (b *faultBed) operatorTable() string {
	b.t.Helper()
	return counterValues.ReplaceAllString(b.nft("list", "table", "inet", "operator"), "counter")
}

// TestFaultTamper has someone else change untrackd's table while traffic
// flows: delete a rule, edit one, flush a chain, insert a rule, empty a
// set, delete the table. untrackd learns of each from the kernel's
// ruleset generation ID, polled every second (the periodic refresh is left
// at its 90s default), restores the table exactly, logs the repair and
// counts one; its own writes never make it react again. An operator's own
// table is never touched, and changing it causes a read-back but no write
// and no repair.
func TestFaultTamper(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{noStart: true})
	script := filepath.Join(t.TempDir(), "operator.nft")
	if err := os.WriteFile(script, []byte(operatorRuleset), 0o600); err != nil {
		t.Fatal(err)
	}
	b.nft("-f", script)
	opBefore := b.operatorTable()
	b.start()
	b.waitReady(60 * time.Second)
	b.waitFor("the seed policy", 30*time.Second, func() bool {
		return b.list().Chains["pol-untracked-out-memcached-server"] != nil
	})
	base := canon(b.list())
	tr := b.startTraffic()
	time.Sleep(200 * time.Millisecond)

	clientsSet := ""
	for name, s := range b.list().Sets {
		for _, e := range s.Elements {
			if e.String() == cliIP {
				clientsSet = name
			}
		}
	}
	if clientsSet == "" {
		t.Fatalf("no set holds the client's address:\n%s", base)
	}
	firstHandle := func(chain string) string {
		return strconv.FormatUint(b.list().Chains[chain].Rules[0].Handle, 10)
	}
	cases := []struct {
		name   string
		tamper func()
	}{
		{"tamper: rule deleted", func() {
			b.nft("delete", "rule", "inet", "untrackd", "pol-untracked-in-memcached-server", "handle", firstHandle("pol-untracked-in-memcached-server"))
		}},
		{"tamper: rule edited", func() {
			b.nft("replace", "rule", "inet", "untrackd", "pol-untracked-out-memcached-server", "handle", firstHandle("pol-untracked-out-memcached-server"), "tcp", "dport", "9", "drop")
		}},
		{"tamper: chain flushed", func() { b.nft("flush", "chain", "inet", "untrackd", "failsafe-in") }},
		{"tamper: rule inserted", func() {
			b.nft("insert", "rule", "inet", "untrackd", "raw-prerouting", "tcp", "dport", portTracked, "drop")
		}},
		{"tamper: set emptied", func() { b.nft("flush", "set", "inet", "untrackd", clientsSet) }},
		{"tamper: table deleted", func() { b.nft("delete", "table", "inet", "untrackd") }},
	}
	for _, c := range cases {
		repairs := b.metric("untrackd_dataplane_repairs_total")
		t0 := tr.snapshot()
		c.tamper()
		if canon(b.list()) == base {
			t.Fatalf("%s: the tampering changed nothing", c.name)
		}
		converge := b.waitFor("the repair", 30*time.Second, func() bool { return canon(b.list()) == base })
		b.waitFor("the repair to be counted", 10*time.Second, func() bool {
			return b.metric("untrackd_dataplane_repairs_total") > repairs
		})
		// Connections started while the table was wrong end (or time out,
		// after 1s) within this case's window; and the watch's least gap
		// between read-backs (1s after one that repaired) has passed
		// before the next case.
		time.Sleep(1100 * time.Millisecond)
		res := tr.snapshot().since(t0)
		if got := b.metric("untrackd_dataplane_repairs_total") - repairs; got != 1 {
			t.Errorf("%s: %v repairs counted, want 1", c.name, got)
		}
		if len(b.logLines(b.d, "dataplane differed from the desired state and was repaired")) == 0 {
			t.Errorf("%s: the repair is not logged", c.name)
		}
		b.rows.add(faults.Row{Fault: c.name, Attempted: res.attempted, Failed: res.failed + res.longFail, Converge: converge,
			Notes: fmt.Sprintf("found by polling the ruleset generation (1s); 1 repair counted; %v", res)})
	}

	// No loop: the repairs were untrackd's own writes, which it ignores.
	applies := b.metric("untrackd_dataplane_apply_duration_seconds_count")
	ops := b.metric("untrackd_dataplane_operations_total")
	repairs := b.metric("untrackd_dataplane_repairs_total")
	time.Sleep(2500 * time.Millisecond)
	if a := b.metric("untrackd_dataplane_apply_duration_seconds_count"); a != applies {
		t.Errorf("untrackd kept reacting to its own repairs: %v applies in 2.5s", a-applies)
	}
	// The operator's table changes: untrackd reads its own back (the
	// generation ID does not say which table changed) and writes nothing.
	readbacks := b.metric("untrackd_dataplane_readbacks_total")
	b.nft("add", "rule", "inet", "operator", "in", "tcp", "dport", "2222", "accept")
	b.nft("add", "element", "inet", "operator", "admins", "{", "192.0.2.3", "}")
	time.Sleep(3 * time.Second)
	a, o, r := b.metric("untrackd_dataplane_apply_duration_seconds_count"), b.metric("untrackd_dataplane_operations_total"),
		b.metric("untrackd_dataplane_repairs_total")
	rb := b.metric("untrackd_dataplane_readbacks_total") - readbacks
	if a != applies || o != ops || r != repairs || rb < 1 || rb > 2 {
		t.Errorf("after the operator's commits: applies %v → %v, operations %v → %v, repairs %v → %v, read-backs +%v (want 1 or 2)",
			applies, a, ops, o, repairs, r, rb)
	}
	wantOp := strings.Replace(opBefore, "counter accept\n", "counter accept\n\t\ttcp dport 2222 accept\n", 1)
	wantOp = strings.Replace(wantOp, "192.0.2.2 }", "192.0.2.2,\n\t\t\t     192.0.2.3 }", 1)
	res := tr.stop()
	if got := b.operatorTable(); got != wantOp {
		t.Errorf("the operator's table changed:\nwas\n%s\nnow\n%s\nwant\n%s", opBefore, got, wantOp)
	}
	b.rows.add(faults.Row{Fault: "tamper: operator's own table changed", Attempted: res.attempted,
		Notes: fmt.Sprintf("operator's table intact (only its own edits); untrackd read its table back %v time(s), wrote nothing, counted no repair; no loop after the repairs", rb)})
}
