package nft

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane/netnstest"
)

// Ports of the packet test, on the server.
const (
	portNotrack = 12211 // untracked by raw-priority notrack rules
	portTracked = 12212 // ordinary, tracked
	portDrop    = 12213 // dropped
	portSet     = 12214 // dropped from addresses in the blocked sets
	portMark    = 12215 // marked in prerouting, dropped by mark in input
)

const dropWait = 600 * time.Millisecond // how long a dropped connection attempt waits

// TestNetlinkPackets programs a server namespace through Netlink and sends
// real traffic to it from a client namespace: notrack leaves no conntrack
// entry while another port is tracked, drop drops, set lookups match set
// members only (including addresses below the lowest range and inside a
// range open to the top of the address space), and mark set, clear and
// match work.
func TestNetlinkPackets(t *testing.T) {
	n, srv := kernelNetlink(t)
	cli := netnstest.New(t, "utcli")
	cliAddrs4 := []string{"10.99.0.2", "10.99.0.3", "10.99.0.5", "10.99.0.15", "10.99.0.30", "10.99.0.250"}
	cliAddrs6 := []string{"fd99::2", "fd99::3", "fd99::5", "fd99::15", "fd99::30", "fd99::250"}
	var cidrs []string
	for _, a := range cliAddrs4 {
		cidrs = append(cidrs, a+"/24")
	}
	for _, a := range cliAddrs6 {
		cidrs = append(cidrs, a+"/64")
	}
	netnstest.Link(t, cli, "veth-c", cidrs, srv, "veth-s", []string{"10.99.0.1/24", "fd99::1/64"})
	for _, p := range []int{portNotrack, portTracked, portDrop, portSet, portMark} {
		srv.TCPServe(t, fmt.Sprintf("10.99.0.1:%d", p))
		srv.TCPServe(t, fmt.Sprintf("[fd99::1]:%d", p))
	}

	dport := func(p uint16) []Expr { return []Expr{nlTCP, Ports{Field: DstPort, Ranges: []PortRange{{p, p}}}} }
	sport := func(p uint16) []Expr { return []Expr{nlTCP, Ports{Field: SrcPort, Ranges: []PortRange{{p, p}}}} }
	rule := func(head []Expr, tail ...Expr) Rule { return Rule{Exprs: append(append([]Expr{}, head...), tail...)} }
	tx := &Transaction{}
	tx.AddTable()
	tx.AddSet(Set{Name: "blocked4", Type: SetIPv4})
	tx.AddSet(Set{Name: "blocked6", Type: SetIPv6})
	tx.AddElements("blocked4", []Interval{nlIv("10.99.0.3", "10.99.0.3"), nlIv("10.99.0.10", "10.99.0.20"), nlIv("10.99.0.250", "255.255.255.255")})
	tx.AddElements("blocked6", []Interval{nlIv("fd99::3", "fd99::3"), nlIv("fd99::10", "fd99::20"), nlIv("fd99::250", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")})
	tx.AddChain(Chain{Name: "raw-pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityRaw, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "raw-out", Base: &BaseChain{Hook: HookOutput, Priority: PriorityRaw, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "mangle-pre", Base: &BaseChain{Hook: HookPrerouting, Priority: PriorityMangle, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "filter-in", Base: &BaseChain{Hook: HookInput, Priority: PriorityFilter, Policy: PolicyAccept}})
	tx.AddChain(Chain{Name: "blocked"})
	tx.AddRule("raw-pre", rule(dport(portNotrack), Notrack{}))
	tx.AddRule("raw-out", rule(sport(portNotrack), Notrack{}))
	tx.AddRule("mangle-pre", rule(dport(portMark), SetMarkBits{Bits: 0x30}))
	tx.AddRule("mangle-pre", rule(dport(portMark), ClearMarkBits{Bits: 0x10}))
	// A stateful rule, so that conntrack tracks in this namespace at all.
	tx.AddRule("filter-in", rule([]Expr{CTStateIn{States: CTEstablished | CTRelated}}, Counter{}))
	tx.AddRule("filter-in", rule(dport(portDrop), Verdict{Kind: Drop}))
	tx.AddRule("filter-in", Rule{Exprs: []Expr{nlV4, AddrInSet{Field: SrcAddr, Family: IPv4, Set: "blocked4"}, Verdict{Kind: Jump, Chain: "blocked"}}})
	tx.AddRule("filter-in", Rule{Exprs: []Expr{nlV6, AddrInSet{Field: SrcAddr, Family: IPv6, Set: "blocked6"}, Verdict{Kind: Jump, Chain: "blocked"}}})
	tx.AddRule("blocked", rule(dport(portSet), Verdict{Kind: Drop}))
	tx.AddRule("filter-in", Rule{Exprs: []Expr{Mark{Mask: 0x30, Value: 0x20}, Verdict{Kind: Drop}}})
	nlRun(t, n, tx)

	connect := func(src, dst string, port int, wantOK bool) {
		t.Helper()
		wait := 5 * time.Second
		if !wantOK {
			wait = dropWait
		}
		err := cli.TCPConnectFrom(src, net.JoinHostPort(dst, fmt.Sprint(port)), wait)
		if (err == nil) != wantOK {
			t.Errorf("connect %s -> %s port %d: error %v, want success %v", src, dst, port, err, wantOK)
		}
	}
	for _, fam := range []struct {
		dst   string
		addrs []string
	}{{"10.99.0.1", cliAddrs4}, {"fd99::1", cliAddrs6}} {
		a := fam.addrs
		connect(a[0], fam.dst, portNotrack, true)
		connect(a[0], fam.dst, portTracked, true)
		connect(a[0], fam.dst, portDrop, false)
		connect(a[0], fam.dst, portMark, false)
		// Set members: .3, .10-.20 and .250 up to the top; the others not.
		connect(a[0], fam.dst, portSet, true) // below the lowest range
		connect(a[1], fam.dst, portSet, false)
		connect(a[2], fam.dst, portSet, true)
		connect(a[3], fam.dst, portSet, false)
		connect(a[4], fam.dst, portSet, true)
		connect(a[5], fam.dst, portSet, false) // in the range open to the top
		// Other ports from set members are not affected.
		connect(a[1], fam.dst, portTracked, true)
	}

	if c := srv.ConntrackCount(t, "-p", "tcp", "--dport", fmt.Sprint(portNotrack)); c != 0 {
		t.Errorf("%d conntrack entries for the notrack port, want 0\n%s", c, srv.MustExec(t, "conntrack", "-L"))
	}
	if c := srv.ConntrackCount(t, "-p", "tcp", "--dport", fmt.Sprint(portTracked)); c < 2 {
		t.Errorf("%d conntrack entries for the tracked port, want at least 2 (one per family)", c)
	}
	if out := srv.MustExec(t, "nft", "list", "chain", "inet", TableName, "filter-in"); !strings.Contains(out, "ct state established,related counter packets") ||
		strings.Contains(out, "counter packets 0 ") {
		t.Errorf("the ct state rule did not count packets:\n%s", out)
	}
}
