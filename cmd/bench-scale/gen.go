package main

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
)

// The generated datastore: a cluster of nodes with a few host endpoints
// each (a few on this node), policies with selectors of the shapes seen in
// practice (a role, role and environment, set membership, has(), negation,
// all()), and network sets of CIDRs (threat feeds, partners, CDNs, offices)
// that rules select by label. The generator is deterministic for a seed.

type genConfig struct {
	nodes, heps, localHEPs int
	policies               int
	untrackedShare         float64
	netsets, cidrs         int
	seed                   uint64
}

// thisNode is the node name untrackd runs as.
const thisNode = "node-0000"

var (
	roles = []string{"web", "api", "db", "cache", "memcached", "kafka", "batch", "ingress", "monitoring", "storage"}
	envs  = []string{"prod", "prod", "prod", "staging", "dev"}
	zones = []string{"zone-a", "zone-b", "zone-c"}
	feeds = []string{"threat-intel", "threat-intel", "partners", "cdn", "office"}
)

// dataset is the generated resources plus what the changes need.
type dataset struct {
	heps     []*model.HostEndpoint
	policies []*model.GlobalNetworkPolicy
	netsets  []*model.GlobalNetworkSet
	// local: this node's endpoints; activeUntracked: untracked policies
	// that select one of them (their chains are in the kernel).
	local           []*model.HostEndpoint
	activeUntracked []*model.GlobalNetworkPolicy
	activeNormal    int
	cidrs           int
}

func hepIP(i int) netip.Addr {
	// Spaced four apart so that no two endpoints' addresses merge into
	// one interval in the kernel's sets.
	v := uint32(10)<<24 | uint32(64)<<16 + uint32(4*i+1)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func generate(c genConfig) *dataset {
	r := rand.New(rand.NewPCG(c.seed, 42))
	d := &dataset{}
	for i := 0; i < c.heps; i++ {
		node := thisNode
		if i >= c.localHEPs {
			node = fmt.Sprintf("node-%04d", 1+(i-c.localHEPs)%(c.nodes-1))
		}
		labels := map[string]string{
			"role": roles[r.IntN(len(roles))], "env": envs[r.IntN(len(envs))], "zone": zones[r.IntN(len(zones))],
			"rack": fmt.Sprintf("rack-%02d", r.IntN(50)), "team": fmt.Sprintf("team-%d", r.IntN(20)),
		}
		if r.IntN(10) == 0 {
			labels["pci"] = "true"
		}
		if i < c.localHEPs {
			labels["role"] = []string{"memcached", "web", "db", "cache"}[i%4]
			labels["env"] = "prod"
		}
		h := &model.HostEndpoint{
			TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindHostEndpoint)},
			Metadata: model.ObjectMeta{Name: fmt.Sprintf("hep-%05d", i), Labels: labels},
			Spec: model.HostEndpointSpec{Node: node, InterfaceName: fmt.Sprintf("eth%d", i%4),
				ExpectedIPs: []string{hepIP(i).String()}},
		}
		d.heps = append(d.heps, h)
		if node == thisNode {
			d.local = append(d.local, h)
		}
	}
	perSet := max(1, c.cidrs/max(1, c.netsets))
	next := uint32(100)<<24 | uint32(64)<<16 // 100.64.0.0 onwards, /32s and /28s
	for i := 0; i < c.netsets; i++ {
		var nets []string
		for j := 0; j < perSet; j++ {
			bits := 32
			if r.IntN(4) == 0 {
				bits = 28
			}
			a := netip.AddrFrom4([4]byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), byte(next)})
			nets = append(nets, netip.PrefixFrom(a, bits).String())
			next += 32 // leave a gap: no two entries merge
		}
		d.cidrs += len(nets)
		d.netsets = append(d.netsets, &model.GlobalNetworkSet{
			TypeMeta: model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindGlobalNetworkSet)},
			Metadata: model.ObjectMeta{Name: fmt.Sprintf("gns-%04d", i), Labels: map[string]string{
				"feed": feeds[i%len(feeds)], "netset": fmt.Sprintf("gns-%04d", i)}},
			Spec: model.GlobalNetworkSetSpec{Nets: nets},
		})
	}
	for i := 0; i < c.policies; i++ {
		p := genPolicy(r, i, r.Float64() < c.untrackedShare, c.netsets)
		d.policies = append(d.policies, p)
	}
	// Two untracked policies every local endpoint has, whatever the draw:
	// a blocklist over every network set (so that the 100,000 CIDRs reach
	// the kernel) and a memcached allow (the seed's policy, at scale).
	d.policies[0] = untrackedBlocklist()
	d.policies[1] = untrackedMemcached()
	for _, p := range d.policies {
		if !selectsAny(p.Spec.Selector, d.local) {
			continue
		}
		if p.Spec.DoNotTrack {
			d.activeUntracked = append(d.activeUntracked, p)
		} else {
			d.activeNormal++
		}
	}
	return d
}

func policyMeta(name string) (model.TypeMeta, model.ObjectMeta) {
	return model.TypeMeta{APIVersion: model.APIVersion, Kind: string(model.KindGlobalNetworkPolicy)}, model.ObjectMeta{Name: name}
}

func tcp() *model.Protocol     { return model.ProtocolFromName("TCP") }
func udp() *model.Protocol     { return model.ProtocolFromName("UDP") }
func order(f float64) *float64 { return &f }

func untrackedBlocklist() *model.GlobalNetworkPolicy {
	tm, om := policyMeta("gnp-00000")
	return &model.GlobalNetworkPolicy{TypeMeta: tm, Metadata: om, Spec: model.GlobalNetworkPolicySpec{
		Order: order(1), Selector: "all()", DoNotTrack: true, ApplyOnForward: true, Types: []model.PolicyType{model.PolicyTypeIngress},
		Ingress: []model.Rule{{Action: model.Deny, Source: model.EntityRule{Selector: "has(feed)"}}},
	}}
}

func untrackedMemcached() *model.GlobalNetworkPolicy {
	tm, om := policyMeta("gnp-00001")
	return &model.GlobalNetworkPolicy{TypeMeta: tm, Metadata: om, Spec: model.GlobalNetworkPolicySpec{
		Order: order(10), Selector: "role == 'memcached'", DoNotTrack: true, ApplyOnForward: true,
		Ingress: []model.Rule{{Action: model.Allow, Protocol: tcp(),
			Source: model.EntityRule{Selector: "role in {'web', 'api'} && env == 'prod'"}, Destination: model.EntityRule{Ports: []model.Port{model.SinglePort(11211)}}}},
		Egress: []model.Rule{{Action: model.Allow, Protocol: tcp(),
			Source: model.EntityRule{Ports: []model.Port{model.SinglePort(11211)}}, Destination: model.EntityRule{Selector: "role in {'web', 'api'} && env == 'prod'"}}},
	}}
}

// appliesTo draws the selector a policy applies to.
func appliesTo(r *rand.Rand) string {
	role, env, zone := roles[r.IntN(len(roles))], envs[r.IntN(len(envs))], zones[r.IntN(len(zones))]
	switch r.IntN(10) {
	case 0, 1, 2:
		return fmt.Sprintf("role == '%s'", role)
	case 3, 4:
		return fmt.Sprintf("role == '%s' && env == '%s'", role, env)
	case 5:
		return fmt.Sprintf("role in {'%s', '%s'} && zone == '%s'", role, roles[r.IntN(len(roles))], zone)
	case 6:
		return fmt.Sprintf("has(pci) && env == '%s'", env)
	case 7:
		return fmt.Sprintf("team == 'team-%d' || rack == 'rack-%02d'", r.IntN(20), r.IntN(50))
	case 8:
		return fmt.Sprintf("role == '%s' && !has(quarantine)", role)
	default:
		return fmt.Sprintf("env != 'dev' && zone in {'%s'}", zone)
	}
}

// peer draws a rule's source or destination.
func peer(r *rand.Rand, netsets int) model.EntityRule {
	switch r.IntN(6) {
	case 0, 1:
		return model.EntityRule{Selector: fmt.Sprintf("role == '%s'", roles[r.IntN(len(roles))])}
	case 2:
		return model.EntityRule{Selector: fmt.Sprintf("role == '%s' && env == '%s'", roles[r.IntN(len(roles))], envs[r.IntN(len(envs))])}
	case 3:
		if netsets > 0 {
			return model.EntityRule{Selector: fmt.Sprintf("netset == 'gns-%04d'", r.IntN(netsets))}
		}
		fallthrough
	case 4:
		return model.EntityRule{Selector: fmt.Sprintf("feed == '%s'", feeds[r.IntN(len(feeds))])}
	default:
		var nets []string
		for k := 0; k < 1+r.IntN(3); k++ {
			nets = append(nets, fmt.Sprintf("172.%d.%d.0/24", 16+r.IntN(16), r.IntN(256)))
		}
		return model.EntityRule{Nets: nets}
	}
}

func ports(r *rand.Rand) []model.Port {
	var ps []model.Port
	for k := 0; k < 1+r.IntN(3); k++ {
		if r.IntN(5) == 0 {
			lo := uint16(1024 + r.IntN(50000))
			ps = append(ps, model.PortRange(lo, lo+uint16(r.IntN(100))))
		} else {
			ps = append(ps, model.SinglePort(uint16([]int{22, 80, 443, 3306, 5432, 6379, 8080, 9092, 9100, 11211}[r.IntN(10)])))
		}
	}
	return ps
}

func genPolicy(r *rand.Rand, i int, untracked bool, netsets int) *model.GlobalNetworkPolicy {
	tm, om := policyMeta(fmt.Sprintf("gnp-%05d", i))
	spec := model.GlobalNetworkPolicySpec{Order: order(float64(1 + r.IntN(1000))), Selector: appliesTo(r)}
	actions := []model.Action{model.Allow, model.Allow, model.Allow, model.Deny, model.Pass}
	for k := 0; k < 1+r.IntN(4); k++ {
		rule := model.Rule{Action: actions[r.IntN(len(actions))], Source: peer(r, netsets)}
		if r.IntN(4) > 0 {
			rule.Protocol = tcp()
			if r.IntN(6) == 0 {
				rule.Protocol = udp()
			}
			rule.Destination.Ports = ports(r)
		}
		spec.Ingress = append(spec.Ingress, rule)
	}
	for k := 0; k < r.IntN(3); k++ {
		rule := model.Rule{Action: model.Allow, Protocol: tcp(), Destination: peer(r, netsets)}
		rule.Destination.Ports = ports(r)
		spec.Egress = append(spec.Egress, rule)
	}
	if untracked {
		spec.DoNotTrack, spec.ApplyOnForward = true, true
		// Stateless: the replies need an egress rule of their own.
		for _, in := range spec.Ingress {
			if in.Action == model.Allow && in.Protocol != nil && len(in.Destination.Ports) > 0 {
				spec.Egress = append(spec.Egress, model.Rule{Action: model.Allow, Protocol: in.Protocol,
					Source: model.EntityRule{Ports: in.Destination.Ports}, Destination: in.Source})
			}
		}
	}
	return &model.GlobalNetworkPolicy{TypeMeta: tm, Metadata: om, Spec: spec}
}

// selectsAny reports whether a selector matches one of the local
// endpoints (the policy is then active on this node).
func selectsAny(sel string, heps []*model.HostEndpoint) bool {
	s, err := selector.Parse(sel)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(heps, func(h *model.HostEndpoint) bool { return s.Evaluate(selector.Map(h.Metadata.Labels)) })
}

// label-change helpers: a remote endpoint selected by the memcached
// policy's peer selector ("role in {'web','api'} && env == 'prod'").
func isMemcachedPeer(h *model.HostEndpoint) bool {
	l := h.Metadata.Labels
	return h.Spec.Node != thisNode && (l["role"] == "web" || l["role"] == "api") && l["env"] == "prod"
}

func keyOf(kind model.Kind, name string) string {
	return model.Key{Kind: kind, Name: name}.String()
}

func encode(r model.Resource) string {
	b, err := model.Encode(r)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}
