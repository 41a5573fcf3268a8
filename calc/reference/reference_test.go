package reference

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/model"
)

// load builds a model from YAML documents.
func load(t *testing.T, docs string) *Model {
	t.Helper()
	m := &Model{Node: "node1", Interfaces: map[string][]netip.Addr{
		"eth0": {netip.MustParseAddr("10.0.0.1")}, "eth1": {netip.MustParseAddr("192.168.1.1")}, "lo": {netip.MustParseAddr("127.0.0.1")},
	}}
	for _, doc := range strings.Split(docs, "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		r, err := model.Decode(js)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		switch v := r.(type) {
		case *model.HostEndpoint:
			m.HostEndpoints = append(m.HostEndpoints, v)
		case *model.GlobalNetworkPolicy:
			m.Policies = append(m.Policies, v)
		case *model.GlobalNetworkSet:
			m.NetworkSets = append(m.NetworkSets, v)
		case *model.Profile:
			m.Profiles = append(m.Profiles, v)
		case *model.FelixConfiguration:
			m.FelixConfigs = append(m.FelixConfigs, v)
		}
	}
	return m
}

const seed = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {memcached: server}}
spec: {interfaceName: eth0, node: node1, expectedIPs: [10.0.0.1]}
---
apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: client, labels: {memcached: client}}
spec: {interfaceName: eth0, node: client, expectedIPs: [10.0.0.2]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: memcached-server}
spec:
  selector: memcached == 'server'
  applyOnForward: true
  doNotTrack: true
  ingress: [{action: Allow, protocol: TCP, source: {selector: memcached == 'client'}, destination: {ports: [12211]}}]
  egress: [{action: Allow, protocol: TCP, source: {ports: [12211]}, destination: {selector: memcached == 'client'}}]`

func tcp(dir Direction, in, out, src string, sport uint16, dst string, dport uint16) Packet {
	return Packet{Direction: dir, InIface: in, OutIface: out, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: 6, SrcPort: sport, DstPort: dport}
}

func icmp(dir Direction, in, out, src, dst string, typ uint8) Packet {
	p := Packet{Direction: dir, InIface: in, OutIface: out, Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: 1, ICMPType: typ}
	if p.Src.Is6() {
		p.Proto = 58
	}
	return p
}

func TestEvaluate(t *testing.T) {
	normal := seed + `
---
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: fallback}
spec: {ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080]}}]}
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: a-pass-8080}
spec:
  order: 1
  selector: all()
  ingress: [{action: Pass, protocol: TCP, destination: {ports: [8080]}}, {action: Deny, protocol: TCP, destination: {ports: [9090]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: b-allow}
spec:
  order: 2
  selector: memcached == 'server'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080, 9090, 80]}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: pre}
spec:
  selector: memcached == 'server'
  preDNAT: true
  applyOnForward: true
  ingress: [{action: Deny, source: {nets: [203.0.113.0/24]}}]`
	withProfile := strings.Replace(normal, "expectedIPs: [10.0.0.1]}", "expectedIPs: [10.0.0.1], profiles: [fallback]}", 1)
	cases := []struct {
		name   string
		model  string
		p      Packet
		want   Verdict
		reason string
	}{
		{"client to the untracked port", seed, tcp(Ingress, "eth0", "", "10.0.0.2", 40000, "10.0.0.1", 12211), AllowUntracked, "untracked policy memcached-server rule 0 allowed"},
		{"stranger to the untracked port", seed, tcp(Ingress, "eth0", "", "10.0.0.3", 40000, "10.0.0.1", 12211), Deny, "default deny"},
		{"ssh is failsafe", seed, tcp(Ingress, "eth0", "", "10.0.0.3", 40000, "10.0.0.1", 22), Allow, "failsafe"},
		{"reply to the client", seed, tcp(Egress, "", "eth0", "10.0.0.1", 12211, "10.0.0.2", 40000), AllowUntracked, "untracked policy memcached-server rule 0 allowed"},
		{"egress default deny", seed, tcp(Egress, "", "eth0", "10.0.0.1", 40000, "10.0.0.2", 80), Deny, "default deny"},
		{"egress to etcd is failsafe", seed, tcp(Egress, "", "eth0", "10.0.0.1", 40000, "10.0.0.9", 2379), Allow, "failsafe"},
		{"no endpoint on eth1", seed, tcp(Ingress, "eth1", "", "192.168.1.2", 40000, "192.168.1.1", 80), Allow, "no host endpoint"},
		{"forwarded from the client, untracked", seed, tcp(Forward, "eth0", "eth1", "10.0.0.2", 40000, "192.168.1.9", 12211), AllowUntracked, "untracked"},
		{"forwarded, no forward policy", seed, tcp(Forward, "eth0", "eth1", "10.0.0.3", 40000, "192.168.1.9", 80), Allow, "forwarded"},
		{"neighbour solicitation", seed, Packet{Direction: Ingress, InIface: "eth0", Src: netip.MustParseAddr("fe80::2"), Dst: netip.MustParseAddr("ff02::1:ff00:1"), Proto: 58, ICMPType: 135}, AllowUntracked, "conntrack leaves ICMPv6 type 135 untracked"},
		{"unsolicited echo reply is invalid", normal, icmp(Ingress, "eth0", "", "10.0.0.3", "10.0.0.1", 0), Deny, "conntrack: invalid (ICMP type 0 cannot start a flow), dropped by node1-eth0's pre-DNAT chain"},
		{"unrelated ICMPv6 error is invalid", seed, icmp(Ingress, "eth0", "", "fd00::3", "fd00::1", 1), Deny, "conntrack: invalid (ICMP error type 1 related to no flow), dropped by node1-eth0's chain"},
		{"invalid without a host endpoint", seed, icmp(Ingress, "eth1", "", "192.168.1.2", "192.168.1.1", 3), Allow, "no host endpoint"},
		{"invalid forwarded, no forward policy", seed, icmp(Forward, "eth0", "eth1", "10.0.0.3", "192.168.1.9", 0), Allow, "forwarded"},
		{"echo request starts a flow", withProfile, icmp(Ingress, "eth0", "", "10.0.0.3", "10.0.0.1", 8), Deny, "end of tier"},
		{"pass skips the tier, no profile: deny", normal, tcp(Ingress, "eth0", "", "10.0.0.3", 1, "10.0.0.1", 8080), Deny, "policy a-pass-8080 rule 0 passed"},
		{"pass skips the tier, profile allows", withProfile, tcp(Ingress, "eth0", "", "10.0.0.3", 1, "10.0.0.1", 8080), Allow, "profile fallback rule 0 allowed"},
		{"earlier policy denies", normal, tcp(Ingress, "eth0", "", "10.0.0.3", 1, "10.0.0.1", 9090), Deny, "policy a-pass-8080 rule 1 denied"},
		{"later policy allows", normal, tcp(Ingress, "eth0", "", "10.0.0.3", 1, "10.0.0.1", 80), Allow, "policy b-allow rule 0 allowed"},
		{"end of tier", normal, tcp(Ingress, "eth0", "", "10.0.0.3", 1, "10.0.0.1", 81), Deny, "end of tier"},
		{"pre-DNAT deny", normal, tcp(Ingress, "eth0", "", "203.0.113.5", 1, "10.0.0.1", 80), Deny, "pre-DNAT policy pre rule 0 denied"},
		{"pre-DNAT skips failsafe", normal, tcp(Ingress, "eth0", "", "203.0.113.5", 1, "10.0.0.1", 22), Allow, "failsafe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := load(t, c.model).Evaluate(c.p)
			if d.Verdict != c.want || !strings.Contains(d.String(), c.reason) {
				t.Errorf("%v: got %v, want %v with %q", c.p, d, c.want, c.reason)
			}
		})
	}
}

// TestGeneratedModelsAreValid checks that the generator only produces
// resources the daemon would accept.
func TestGeneratedModelsAreValid(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 500; i++ {
		m := Generate(r)
		for _, res := range m.all() {
			if err := res.Validate(); err != nil {
				t.Fatalf("model %d: %s %s: %v", i, res.GetKind(), res.GetMeta().Name, err)
			}
		}
		for j := 0; j < 20; j++ {
			_ = m.Evaluate(GeneratePacket(r))
		}
	}
}
