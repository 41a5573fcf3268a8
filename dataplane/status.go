package dataplane

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// Status describes the state the last successful apply put in the kernel.
// It is a copy: safe to hand to other goroutines.
type Status struct {
	Endpoints []EndpointStatus
	// LogSeverity is FelixConfiguration's logSeverityScreen ("" = unset).
	LogSeverity string
	// Counts of what untrackd's table holds.
	Chains, Rules, Sets, SetElements int
	// Policies is the number of active policies.
	Policies int
}

// EndpointStatus describes one local host endpoint.
type EndpointStatus struct {
	Name      string
	Interface string // as configured: a name, "*" or ""
	Untracked PolicyLists
	PreDNAT   PolicyLists
	Normal    PolicyLists
	Forward   PolicyLists
	Profiles  []string
}

// PolicyLists are ordered policy names per direction.
type PolicyLists struct {
	Ingress, Egress []string
}

func lists(l *proto.PolicyList) PolicyLists {
	return PolicyLists{Ingress: slices.Clone(l.GetIngress()), Egress: slices.Clone(l.GetEgress())}
}

// status summarises the desired state and the table it was rendered to.
func (d *desired) status(st *nft.TableState) *Status {
	s := &Status{Policies: len(d.policies)}
	if d.config != nil {
		s.LogSeverity = d.config.LogSeverity
	}
	for _, name := range slices.Sorted(maps.Keys(d.endpoints)) {
		e := d.endpoints[name]
		s.Endpoints = append(s.Endpoints, EndpointStatus{
			Name: name, Interface: e.InterfaceName,
			Untracked: lists(e.Untracked), PreDNAT: lists(e.PreDnat), Normal: lists(e.Normal), Forward: lists(e.Forward),
			Profiles: slices.Clone(e.Profiles),
		})
	}
	if st != nil {
		s.Chains, s.Sets = len(st.Chains), len(st.Sets)
		for _, c := range st.Chains {
			s.Rules += len(c.Rules)
		}
		for _, set := range d.ipsets {
			s.SetElements += set.n4 + set.n6
		}
	}
	return s
}
