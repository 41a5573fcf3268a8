package reference

import (
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/untrackd/untrackd/model"
)

// This file generates random policy states and packets for differential
// tests: the same state is rendered by untrackd and evaluated here, and the
// verdicts compared. The world is small on purpose, so that random rules
// and packets meet often.
//
// Topology (node "node1"):
//
//	client side                 host (node1)                     far side
//	10.0.0.2-4, fd00::2-4  ── eth0 10.0.0.1, fd00::1
//	203.0.113.5 (outsider)      eth1 10.1.0.1, fd01::1 ──  10.1.0.2-3, fd01::2-3
//
// Remote host endpoints (other nodes) carry the client and far addresses;
// a network set covers part of the client range.

// Addresses of the generated world.
var (
	HostEth0V4 = netip.MustParseAddr("10.0.0.1")
	HostEth0V6 = netip.MustParseAddr("fd00::1")
	HostEth1V4 = netip.MustParseAddr("10.1.0.1")
	HostEth1V6 = netip.MustParseAddr("fd01::1")
	ClientV4   = []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4"), netip.MustParseAddr("203.0.113.5")}
	ClientV6   = []netip.Addr{netip.MustParseAddr("fd00::2"), netip.MustParseAddr("fd00::3"), netip.MustParseAddr("fd00::4")}
	FarV4      = []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3")}
	FarV6      = []netip.Addr{netip.MustParseAddr("fd01::2"), netip.MustParseAddr("fd01::3")}
)

// GenPorts are the ports generated rules and packets use.
var GenPorts = []uint16{22, 53, 80, 443, 2379, 11211, 12211, 40000}

var (
	labelKeys   = []string{"role", "env"}
	labelValues = []string{"a", "b"}
	selectors   = []string{"", "all()", "role == 'a'", "role != 'a'", "has(env)", "!has(env)", "env in {'a'}", "role == 'b' && has(env)", "role == 'a' || env == 'b'"}
)

// Generate returns a random model of the generated world. The node's
// interfaces are eth0 and eth1 with the host addresses above (and lo).
func Generate(r *rand.Rand) *Model {
	m := &Model{Node: "node1", Interfaces: map[string][]netip.Addr{
		"lo":   {netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()},
		"eth0": {HostEth0V4, HostEth0V6},
		"eth1": {HostEth1V4, HostEth1V6},
	}}
	// Local endpoints: eth0 by name; eth1 by name, by expectedIPs, by "*",
	// or not at all.
	m.HostEndpoints = append(m.HostEndpoints, hep(r, "node1-eth0", "node1", "eth0", HostEth0V4, HostEth0V6))
	switch r.IntN(4) {
	case 0:
		m.HostEndpoints = append(m.HostEndpoints, hep(r, "node1-eth1", "node1", "eth1", HostEth1V4, HostEth1V6))
	case 1:
		m.HostEndpoints = append(m.HostEndpoints, hep(r, "node1-eth1", "node1", "", HostEth1V4, HostEth1V6))
	case 2:
		m.HostEndpoints = append(m.HostEndpoints, hep(r, "node1-all", "node1", "*"))
	}
	// Remote endpoints with the client and far addresses.
	for i := 0; i < 3; i++ {
		m.HostEndpoints = append(m.HostEndpoints, hep(r, fmt.Sprintf("client-%d", i), fmt.Sprintf("client-node-%d", i), "eth0", ClientV4[i], ClientV6[i]))
	}
	for i := 0; i < 2; i++ {
		m.HostEndpoints = append(m.HostEndpoints, hep(r, fmt.Sprintf("far-%d", i), fmt.Sprintf("far-node-%d", i), "eth0", FarV4[i], FarV6[i]))
	}
	m.NetworkSets = append(m.NetworkSets, &model.GlobalNetworkSet{
		TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindGlobalNetworkSet)},
		Metadata: model.ObjectMeta{Name: "netset", Labels: labels(r)},
		Spec:     model.GlobalNetworkSetSpec{Nets: []string{"10.0.0.2/31", "fd00::2/127", "203.0.113.0/24"}},
	})
	if r.IntN(3) == 0 {
		m.Profiles = append(m.Profiles, &model.Profile{
			TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindProfile)},
			Metadata: model.ObjectMeta{Name: "prof"},
			Spec:     model.ProfileSpec{LabelsToApply: labels(r), Ingress: rules(r, 1+r.IntN(2)), Egress: rules(r, r.IntN(2))},
		})
		for _, h := range m.HostEndpoints[:1] {
			h.Spec.Profiles = []string{"prof"}
		}
	}
	if r.IntN(4) == 0 {
		m.HostEndpoints[0].Spec.Profiles = append(m.HostEndpoints[0].Spec.Profiles, model.DefaultAllowProfile)
	}
	for i, n := 0, 1+r.IntN(5); i < n; i++ {
		m.Policies = append(m.Policies, policy(r, fmt.Sprintf("p%d", i)))
	}
	if r.IntN(4) == 0 {
		fs := []model.ProtoPort{{Protocol: "tcp", Port: 22}, {Protocol: "udp", Port: 53, Net: "10.0.0.0/30"}}
		m.FelixConfigs = append(m.FelixConfigs, &model.FelixConfiguration{
			TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindFelixConfiguration)},
			Metadata: model.ObjectMeta{Name: "default"},
			Spec:     model.FelixConfigurationSpec{FailsafeInboundHostPorts: &fs, FailsafeOutboundHostPorts: &[]model.ProtoPort{}},
		})
	}
	return m
}

func labels(r *rand.Rand) map[string]string {
	l := map[string]string{}
	for _, k := range labelKeys {
		if r.IntN(3) > 0 {
			l[k] = labelValues[r.IntN(len(labelValues))]
		}
	}
	return l
}

func hep(r *rand.Rand, name, node, iface string, ips ...netip.Addr) *model.HostEndpoint {
	h := &model.HostEndpoint{
		TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindHostEndpoint)},
		Metadata: model.ObjectMeta{Name: name, Labels: labels(r)},
		Spec:     model.HostEndpointSpec{Node: node, InterfaceName: iface},
	}
	for _, ip := range ips {
		h.Spec.ExpectedIPs = append(h.Spec.ExpectedIPs, ip.String())
	}
	if r.IntN(2) == 0 {
		h.Spec.Ports = []model.EndpointPort{{Name: "svc", Protocol: *model.ProtocolFromName("TCP"), Port: GenPorts[r.IntN(len(GenPorts))]}}
	}
	return h
}

func policy(r *rand.Rand, name string) *model.GlobalNetworkPolicy {
	p := &model.GlobalNetworkPolicy{
		TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindGlobalNetworkPolicy)},
		Metadata: model.ObjectMeta{Name: name},
	}
	s := &p.Spec
	s.Selector = selectors[r.IntN(len(selectors))]
	if r.IntN(3) > 0 {
		o := float64(r.IntN(4))
		s.Order = &o
	}
	switch r.IntN(4) {
	case 0:
		s.DoNotTrack, s.ApplyOnForward = true, true
	case 1:
		s.PreDNAT, s.ApplyOnForward = true, true
	case 2:
		s.ApplyOnForward = true
	}
	s.Ingress = rules(r, r.IntN(4))
	if !s.PreDNAT {
		s.Egress = rules(r, r.IntN(3))
	}
	if r.IntN(4) == 0 && !s.PreDNAT {
		s.Types = []model.PolicyType{model.PolicyTypeIngress, model.PolicyTypeEgress}
	}
	return p
}

func rules(r *rand.Rand, n int) []model.Rule {
	var out []model.Rule
	for i := 0; i < n; i++ {
		out = append(out, rule(r))
	}
	return out
}

var actions = []model.Action{model.Allow, model.Allow, model.Deny, model.Pass, model.Log}

func rule(r *rand.Rand) model.Rule {
	ru := model.Rule{Action: actions[r.IntN(len(actions))]}
	switch r.IntN(5) {
	case 0, 1:
		ru.Protocol = model.ProtocolFromName("TCP")
	case 2:
		ru.Protocol = model.ProtocolFromName("UDP")
	case 3:
		ru.Protocol = model.ProtocolFromName("ICMP")
		if r.IntN(2) == 0 {
			t := 8
			ru.ICMP = &model.ICMPFields{Type: &t}
		}
	}
	if r.IntN(6) == 0 {
		ru.NotProtocol = model.ProtocolFromNumber(17)
	}
	if r.IntN(5) == 0 && (ru.Protocol == nil || ru.Protocol.Name != "ICMP") {
		v := 4 + 2*r.IntN(2)
		ru.IPVersion = &v
	}
	withPorts := ru.Protocol != nil && ru.Protocol.HasPorts()
	entity(r, &ru.Source, withPorts, ru.IPVersion)
	entity(r, &ru.Destination, withPorts, ru.IPVersion)
	return ru
}

func entity(r *rand.Rand, e *model.EntityRule, withPorts bool, ipVersion *int) {
	nets4 := []string{"10.0.0.0/30", "10.0.0.4/32", "10.1.0.0/24", "203.0.113.0/24", "10.0.0.1"}
	nets6 := []string{"fd00::/126", "fd01::/64", "fd00::1"}
	pick := func() string {
		if ipVersion != nil && *ipVersion == 6 || ipVersion == nil && r.IntN(3) == 0 {
			return nets6[r.IntN(len(nets6))]
		}
		return nets4[r.IntN(len(nets4))]
	}
	switch r.IntN(8) {
	case 0:
		e.Nets = []string{pick()}
	case 1:
		e.NotNets = []string{pick()}
	case 2:
		e.Selector = selectors[1+r.IntN(len(selectors)-1)]
	case 3:
		e.NotSelector = selectors[1+r.IntN(len(selectors)-1)]
	}
	if !withPorts {
		return
	}
	switch r.IntN(6) {
	case 0:
		e.Ports = []model.Port{model.SinglePort(GenPorts[r.IntN(len(GenPorts))])}
	case 1:
		e.Ports = []model.Port{model.PortRange(50, 500), model.SinglePort(GenPorts[r.IntN(len(GenPorts))])}
	case 2:
		e.NotPorts = []model.Port{model.SinglePort(GenPorts[r.IntN(len(GenPorts))])}
	case 3:
		e.Ports = []model.Port{model.NamedPort("svc")}
	case 4:
		e.Ports = []model.Port{model.NamedPort("svc"), model.SinglePort(GenPorts[r.IntN(len(GenPorts))])}
	}
}

// GeneratePacket returns a random first packet of a flow in the generated
// world: ingress from a client (on eth0) or far address (on eth1), egress
// from the host to either side, or forwarded between the client and far
// sides in either direction. ICMP messages include ones that cannot start
// a flow (replies, errors: conntrack calls them invalid) and, for IPv6,
// neighbour discovery (which conntrack leaves untracked).
func GeneratePacket(r *rand.Rand) Packet {
	v6 := r.IntN(4) == 0
	client, far := ClientV4, FarV4
	hostEth0, hostEth1 := HostEth0V4, HostEth1V4
	if v6 {
		client, far, hostEth0, hostEth1 = ClientV6, FarV6, HostEth0V6, HostEth1V6
	}
	var p Packet
	switch r.IntN(7) {
	case 0, 1:
		p = Packet{Direction: Ingress, InIface: "eth0", Src: client[r.IntN(len(client))], Dst: hostEth0}
	case 2:
		p = Packet{Direction: Egress, OutIface: "eth0", Src: hostEth0, Dst: client[r.IntN(len(client))]}
	case 3:
		p = Packet{Direction: Forward, InIface: "eth0", OutIface: "eth1", Src: client[r.IntN(len(client))], Dst: far[r.IntN(len(far))]}
	case 4:
		p = Packet{Direction: Ingress, InIface: "eth1", Src: far[r.IntN(len(far))], Dst: hostEth1}
	case 5:
		p = Packet{Direction: Egress, OutIface: "eth1", Src: hostEth1, Dst: far[r.IntN(len(far))]}
	default:
		p = Packet{Direction: Forward, InIface: "eth1", OutIface: "eth0", Src: far[r.IntN(len(far))], Dst: client[r.IntN(len(client))]}
	}
	switch r.IntN(5) {
	case 0, 1:
		p.Proto = 6
	case 2, 3:
		p.Proto = 17
	default:
		p.Proto = 1
		if v6 {
			p.Proto = 58
		}
	}
	if hasPorts(p.Proto) {
		p.SrcPort = GenPorts[r.IntN(len(GenPorts))]
		p.DstPort = GenPorts[r.IntN(len(GenPorts))]
	} else {
		p.ICMPType = []uint8{8, 0, 3}[r.IntN(3)]
		if p.Proto == 58 {
			p.ICMPType = []uint8{128, 129, 1, 135, 136}[r.IntN(5)]
		}
	}
	return p
}
