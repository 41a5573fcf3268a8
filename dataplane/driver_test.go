package dataplane

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Message builders.

func inSync() *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_InSync{InSync: &proto.InSync{}}}
}

func config(in, out []*proto.ProtoPort) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_ConfigUpdate{ConfigUpdate: &proto.ConfigUpdate{FailsafeInbound: in, FailsafeOutbound: out}}}
}

func pp(proto_ string, port uint32) *proto.ProtoPort {
	return &proto.ProtoPort{Protocol: proto_, Port: port}
}

var defaultFailsafe = config(
	[]*proto.ProtoPort{pp("tcp", 22), pp("udp", 68), pp("tcp", 179), pp("tcp", 2379), pp("tcp", 2380), pp("tcp", 5473), pp("tcp", 6443), pp("tcp", 6666), pp("tcp", 6667)},
	[]*proto.ProtoPort{pp("udp", 53), pp("udp", 67), pp("tcp", 179), pp("tcp", 2379), pp("tcp", 2380), pp("tcp", 5473), pp("tcp", 6443), pp("tcp", 6666), pp("tcp", 6667)},
)

func ipsetMsg(id string, members ...string) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_IpsetUpdate{IpsetUpdate: &proto.IPSetUpdate{Id: id, Members: members}}}
}

func ipsetDelta(id string, added, removed []string) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_IpsetDeltaUpdate{IpsetDeltaUpdate: &proto.IPSetDeltaUpdate{Id: id, Added: added, Removed: removed}}}
}

func ipsetRemove(id string) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_IpsetRemove{IpsetRemove: &proto.IPSetRemove{Id: id}}}
}

func policy(name string, p *proto.Policy) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_ActivePolicyUpdate{ActivePolicyUpdate: &proto.ActivePolicyUpdate{Name: name, Policy: p}}}
}

func policyRemove(name string) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_ActivePolicyRemove{ActivePolicyRemove: &proto.ActivePolicyRemove{Name: name}}}
}

func hep(name, iface string, untrackedIn, untrackedOut []string) *proto.ToDataplane {
	return &proto.ToDataplane{Payload: &proto.ToDataplane_HostEndpointUpdate{HostEndpointUpdate: &proto.HostEndpointUpdate{
		Name: name, InterfaceName: iface, ExpectedIpv4: []string{"10.128.0.162"},
		Untracked: &proto.PolicyList{Ingress: untrackedIn, Egress: untrackedOut},
		PreDnat:   &proto.PolicyList{}, Normal: &proto.PolicyList{}, Forward: &proto.PolicyList{},
	}}}
}

func u32(v uint32) *uint32 { return &v }

// The seed guide's policy, as calc resolves it: the client selector became
// IP set "clients".
var seedPolicy = &proto.Policy{
	Untracked: true, ApplyOnForward: true,
	InboundRules: []*proto.Rule{{Action: proto.Action_ACTION_ALLOW, Protocol: u32(6), SrcIpSetIds: []string{"clients"},
		DstPorts: []*proto.PortRange{{First: 12211, Last: 12211}}, Origin: "memcached-server ingress 0"}},
	OutboundRules: []*proto.Rule{{Action: proto.Action_ACTION_ALLOW, Protocol: u32(6), DstIpSetIds: []string{"clients"},
		SrcPorts: []*proto.PortRange{{First: 12211, Last: 12211}}, Origin: "memcached-server egress 0"}},
}

var seed = []*proto.ToDataplane{
	defaultFailsafe,
	ipsetMsg("clients", "10.128.0.200/32", "10.128.0.201/32", "192.168.0.0/24", "192.168.1.0/24", "fd00::/64"),
	policy("memcached-server", seedPolicy),
	hep("memcached-node-1-eth0", "eth0", []string{"memcached-server"}, []string{"memcached-server"}),
	inSync(),
}

// A second policy using every rule feature untracked policy supports.
var featuresPolicy = &proto.Policy{
	Untracked: true, ApplyOnForward: true,
	InboundRules: []*proto.Rule{
		{Action: proto.Action_ACTION_LOG, SrcNets: []string{"203.0.113.0/24"}, Origin: "features ingress 0"},
		{Action: proto.Action_ACTION_DENY, SrcNets: []string{"203.0.113.0/24", "2001:db8::/32"}, Origin: "features ingress 1"},
		{Action: proto.Action_ACTION_PASS, Protocol: u32(17), NotDstPorts: []*proto.PortRange{{First: 53, Last: 53}, {First: 1000, Last: 2000}}, Origin: "features ingress 2"},
		{Action: proto.Action_ACTION_ALLOW, IpVersion: 6, Protocol: u32(58), IcmpType: u32(128), Origin: "features ingress 3"},
		{Action: proto.Action_ACTION_DENY, Protocol: u32(1), IcmpType: u32(3), IcmpCode: u32(4), NotSrcIpSetIds: []string{"clients"}, Origin: "features ingress 4"},
		{Action: proto.Action_ACTION_ALLOW, NotProtocol: u32(6), DstNets: []string{"10.0.0.1/32"}, NotDstNets: []string{"fd00::1/128"}, Origin: "features ingress 5"},
	},
}

func newTestDriver(w nft.Writer) *Driver {
	return NewDriver(Options{Writer: w, Render: render.DefaultConfig()})
}

func feed(t *testing.T, d *Driver, msgs ...*proto.ToDataplane) ApplyResult {
	t.Helper()
	for _, m := range msgs {
		d.OnUpdate(m)
	}
	res, err := d.Apply(context.Background())
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return res
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".nft")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from golden file (run with -update to accept):\n%s", name, diffLines(string(want), got))
	}
}

// diffLines is a minimal line diff for failure messages.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}

func TestGoldenRenders(t *testing.T) {
	cases := []struct {
		name string
		msgs []*proto.ToDataplane
	}{
		{"empty", []*proto.ToDataplane{defaultFailsafe, inSync()}},
		{"no-failsafe", []*proto.ToDataplane{config(nil, nil), inSync()}},
		{"failsafe-nets", []*proto.ToDataplane{config(
			[]*proto.ProtoPort{{Protocol: "tcp", Port: 22, Net: "10.0.0.0/8"}, {Protocol: "tcp", Port: 22, Net: "fd00::/8"}, pp("sctp", 5000)},
			[]*proto.ProtoPort{{Protocol: "udp", Port: 53, Net: "192.0.2.53/32"}}), inSync()}},
		{"seed", seed},
		{"features", append(append([]*proto.ToDataplane{}, seed[:len(seed)-1]...),
			policy("features", featuresPolicy),
			hep("memcached-node-1-eth0", "eth0", []string{"features", "memcached-server"}, []string{"memcached-server"}),
			hep("second-eth1", "eth1", []string{"features"}, nil),
			hep("duplicate-claim-eth1", "eth1", []string{"memcached-server"}, nil),
			inSync())},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := nft.NewFake()
			feed(t, newTestDriver(f), c.msgs...)
			checkGolden(t, c.name, f.Dump())
		})
	}
}

func TestNothingWrittenBeforeInSync(t *testing.T) {
	f := nft.NewFake()
	d := newTestDriver(f)
	res := feed(t, d, seed[:len(seed)-1]...)
	if res.Ops != 0 || len(f.Transactions) != 0 {
		t.Fatalf("wrote %d operations before in-sync", res.Ops)
	}
	feed(t, d, inSync())
	if len(f.Transactions) != 1 {
		t.Fatalf("%d transactions after in-sync, want 1", len(f.Transactions))
	}
}

// opsSummary lists a transaction's operations as "verb name" strings.
func opsSummary(tx *nft.Transaction) []string {
	var out []string
	for _, op := range tx.Ops {
		s := op.Verb.String() + " " + op.Name
		if len(op.Elements) > 0 {
			var els []string
			for _, e := range op.Elements {
				els = append(els, e.String())
			}
			s += " " + strings.Join(els, ",")
		}
		out = append(out, s)
	}
	return out
}

func TestMinimalUpdates(t *testing.T) {
	type step struct {
		name    string
		msgs    []*proto.ToDataplane
		wantOps []string
	}
	changed := &proto.Policy{Untracked: true, ApplyOnForward: true, InboundRules: seedPolicy.InboundRules[:1],
		OutboundRules: []*proto.Rule{{Action: proto.Action_ACTION_DENY, Origin: "memcached-server egress 0"}}}
	steps := []step{
		{"add one member", []*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.202/32"}, nil)},
			[]string{"add element s4-clients 10.128.0.202"}},
		{"replace a member", []*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.203/32"}, []string{"10.128.0.200/32"})},
			[]string{"delete element s4-clients 10.128.0.200", "add element s4-clients 10.128.0.203"}},
		{"add an overlapping network", []*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.128/25"}, nil)},
			[]string{"delete element s4-clients 10.128.0.201,10.128.0.202,10.128.0.203", "add element s4-clients 10.128.0.128/25"}},
		{"remove it again", []*proto.ToDataplane{ipsetDelta("clients", nil, []string{"10.128.0.128/25"})},
			[]string{"delete element s4-clients 10.128.0.128/25", "add element s4-clients 10.128.0.201,10.128.0.202,10.128.0.203"}},
		{"full update of the set, one member different", []*proto.ToDataplane{ipsetMsg("clients", "10.128.0.201/32", "10.128.0.202/32", "10.128.0.204/32", "192.168.0.0/24", "192.168.1.0/24", "fd00::/64")},
			[]string{"delete element s4-clients 10.128.0.203", "add element s4-clients 10.128.0.204"}},
		{"set removed and sent again in one batch", []*proto.ToDataplane{ipsetRemove("clients"), ipsetMsg("clients", "10.128.0.201/32", "10.128.0.202/32", "192.168.0.0/24", "192.168.1.0/24", "fd00::/64")},
			[]string{"delete element s4-clients 10.128.0.204"}},
		{"two deltas in one batch", []*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.205/32"}, nil), ipsetDelta("clients", nil, []string{"10.128.0.205/32", "10.128.0.202/32"})},
			[]string{"delete element s4-clients 10.128.0.202"}},
		{"identical update", []*proto.ToDataplane{policy("memcached-server", seedPolicy)}, nil},
		{"change one policy's egress", []*proto.ToDataplane{policy("memcached-server", changed)},
			[]string{"flush chain pol-untracked-out-memcached-server", "add rule pol-untracked-out-memcached-server"}},
		{"remove the endpoint's egress policy", []*proto.ToDataplane{hep("memcached-node-1-eth0", "eth0", []string{"memcached-server"}, nil)},
			[]string{"flush chain raw-output", "add rule raw-output",
				"flush chain hep-untracked-out-memcached-node-1-eth0", "flush chain pol-untracked-out-memcached-server",
				"delete chain hep-untracked-out-memcached-node-1-eth0", "delete chain pol-untracked-out-memcached-server"}},
	}
	f := nft.NewFake()
	d := newTestDriver(f)
	feed(t, d, seed...)
	for _, s := range steps {
		before := len(f.Transactions)
		feed(t, d, s.msgs...)
		var got []string
		if len(f.Transactions) > before {
			got = opsSummary(f.LastTransaction())
		}
		if strings.Join(got, "\n") != strings.Join(s.wantOps, "\n") {
			t.Errorf("%s: operations\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.wantOps, "\n"))
		}
	}
}

// TestRestartTakesOver checks that a new driver (a restarted untrackd)
// with the same desired state finds the table as it wants it and writes
// nothing, and with a changed state writes only the difference.
func TestRestartTakesOver(t *testing.T) {
	f := nft.NewFake()
	feed(t, newTestDriver(f), seed...)
	dump := f.Dump()
	n := len(f.Transactions)

	d2 := newTestDriver(f)
	res := feed(t, d2, seed...)
	if !res.Resynced || res.Ops != 0 || len(f.Transactions) != n {
		t.Fatalf("restart with the same state: resynced=%v ops=%d", res.Resynced, res.Ops)
	}
	if f.Dump() != dump {
		t.Fatal("table changed")
	}
	d3 := newTestDriver(f)
	msgs := append([]*proto.ToDataplane{}, seed...)
	msgs[1] = ipsetMsg("clients", "10.128.0.200/32")
	feed(t, d3, msgs...)
	got := opsSummary(f.LastTransaction())
	want := []string{"delete element s4-clients 10.128.0.201,192.168.0.0/24,192.168.1.0/24", "delete element s6-clients fd00::/64"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("restart with a changed set wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFailedApplyLeavesStateAndRetries checks that an injected write
// failure changes nothing and the next apply converges.
func TestFailedApplyLeavesStateAndRetries(t *testing.T) {
	f := nft.NewFake()
	d := newTestDriver(f)
	feed(t, d, seed...)
	dump := f.Dump()
	f.FailNext(errors.New("boom"))
	d.OnUpdate(policy("memcached-server", &proto.Policy{Untracked: true, ApplyOnForward: true}))
	if _, err := d.Apply(context.Background()); !errors.Is(err, nft.ErrInjected) {
		t.Fatalf("apply error %v, want injected", err)
	}
	if f.Dump() != dump {
		t.Fatal("failed apply changed the table")
	}
	res, err := d.Apply(context.Background())
	if err != nil || !res.Resynced || res.Ops == 0 {
		t.Fatalf("retry: res=%+v err=%v", res, err)
	}
	if strings.Contains(f.Dump(), "12211") {
		t.Fatal("retry did not apply the change")
	}
}

// TestTamperingIsRepaired checks that a resync restores rules someone else
// removed or added, without touching intact chains.
func TestTamperingIsRepaired(t *testing.T) {
	f := nft.NewFake()
	d := newTestDriver(f)
	feed(t, d, seed...)
	dump := f.Dump()
	tamper := &nft.Transaction{}
	tamper.FlushChain("pol-untracked-in-memcached-server")
	tamper.AddRule("filter-input", nft.Rule{Exprs: []nft.Expr{nft.Verdict{Kind: nft.Drop}}})
	tamper.DeleteElements("s4-clients", []nft.Interval{nft.PrefixInterval(mustPrefix("10.128.0.200/32"))})
	if err := f.Run(context.Background(), tamper); err != nil {
		t.Fatal(err)
	}
	d.Resync()
	feed(t, d)
	if f.Dump() != dump {
		t.Fatalf("not repaired:\n%s", diffLines(dump, f.Dump()))
	}
	got := opsSummary(f.LastTransaction())
	want := []string{"flush chain filter-input", "add rule filter-input", "add rule filter-input",
		"add rule pol-untracked-in-memcached-server", "add rule pol-untracked-in-memcached-server", "add element s4-clients 10.128.0.200"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("repair wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Deleting the whole table is repaired too.
	del := &nft.Transaction{}
	del.DeleteTable()
	if err := f.Run(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	d.Resync()
	feed(t, d)
	if f.Dump() != dump {
		t.Fatal("table not recreated")
	}
}
