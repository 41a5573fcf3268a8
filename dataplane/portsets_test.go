package dataplane

import (
	"strings"
	"testing"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// TestPortSetsFollowTheRules checks the life of port sets: rules with the
// same port list share one set (whatever the order the list came in), a
// rule whose list changes uses a new set, and a set is deleted, after the
// rules, once no rule uses it. A restarted driver finds them as it wants
// them and writes nothing.
func TestPortSetsFollowTheRules(t *testing.T) {
	ports := func(ps ...uint32) []*proto.PortRange {
		var out []*proto.PortRange
		for _, p := range ps {
			out = append(out, &proto.PortRange{First: p, Last: p})
		}
		return out
	}
	pol := func(in, out []*proto.PortRange) *proto.Policy {
		return &proto.Policy{Untracked: true, ApplyOnForward: true,
			InboundRules:  []*proto.Rule{{Action: proto.Action_ACTION_ALLOW, Protocol: u32(6), DstPorts: in, Origin: "web ingress 0"}},
			OutboundRules: []*proto.Rule{{Action: proto.Action_ACTION_ALLOW, Protocol: u32(6), SrcPorts: out, Origin: "web egress 0"}},
		}
	}
	setA := render.PortSetName([]nft.PortRange{{First: 80, Last: 80}, {First: 443, Last: 443}})
	setB := render.PortSetName([]nft.PortRange{{First: 80, Last: 81}, {First: 90, Last: 90}})
	f := nft.NewFake()
	d := newTestDriver(f)
	feed(t, d, defaultFailsafe, policy("web", pol(ports(443, 80), ports(80, 443))),
		hep("hep", "eth0", []string{"web"}, []string{"web"}), inSync())
	dump := f.Dump()
	if n := strings.Count(dump, "set ports-"); n != 1 || !strings.Contains(dump, "set "+setA+" {") {
		t.Fatalf("want one port set %s shared by both rules, got:\n%s", setA, dump)
	}
	if !strings.Contains(dump, "th dport @"+setA) || !strings.Contains(dump, "th sport @"+setA) {
		t.Fatalf("rules do not use %s:\n%s", setA, dump)
	}

	steps := []struct {
		name    string
		policy  *proto.Policy
		wantOps []string
	}{
		{"one rule's list changes (80 and 81 merge into a range)", pol(ports(90, 81, 80), ports(80, 443)),
			[]string{"add set " + setB, "flush chain pol-untracked-in-web", "add rule pol-untracked-in-web"}},
		{"the other rule's too: the first set is unused", pol(ports(90, 81, 80), ports(80, 90, 81)),
			[]string{"flush chain pol-untracked-out-web", "add rule pol-untracked-out-web", "delete set " + setA}},
		{"single ports need no set", pol(ports(80), ports(80)),
			[]string{"flush chain pol-untracked-in-web", "add rule pol-untracked-in-web",
				"flush chain pol-untracked-out-web", "add rule pol-untracked-out-web", "delete set " + setB}},
	}
	for _, s := range steps {
		before := len(f.Transactions)
		feed(t, d, policy("web", s.policy))
		var got []string
		if len(f.Transactions) > before {
			got = opsSummary(f.LastTransaction())
		}
		if strings.Join(got, "\n") != strings.Join(s.wantOps, "\n") {
			t.Errorf("%s: operations\n%s\nwant\n%s", s.name, strings.Join(got, "\n"), strings.Join(s.wantOps, "\n"))
		}
	}

	feed(t, d, policy("web", pol(ports(443, 80), ports(80, 443))))
	restarted := newTestDriver(f)
	before := len(f.Transactions)
	feed(t, restarted, defaultFailsafe, policy("web", pol(ports(443, 80), ports(80, 443))),
		hep("hep", "eth0", []string{"web"}, []string{"web"}), inSync())
	if len(f.Transactions) != before {
		t.Fatalf("restarted driver wrote %v", opsSummary(f.LastTransaction()))
	}
}
