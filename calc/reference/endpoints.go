package reference

import (
	"net/netip"
	"slices"
	"sort"

	"github.com/untrackd/untrackd/model"
)

// endpointFor returns the local host endpoint governing iface, or nil:
// one naming the interface (the first by name), else one giving only
// expectedIPs of which the interface has one, else the first "*" endpoint
// (never for loopback).
func (m *Model) endpointFor(iface string) *model.HostEndpoint {
	if iface == "" {
		return nil
	}
	var local []*model.HostEndpoint
	for _, h := range m.HostEndpoints {
		if h.Spec.Node == m.Node {
			local = append(local, h)
		}
	}
	sort.Slice(local, func(i, j int) bool { return local[i].Metadata.Name < local[j].Metadata.Name })
	for _, h := range local {
		if h.Spec.InterfaceName == iface {
			return h
		}
	}
	if iface != "lo" {
		for _, h := range local {
			if h.Spec.InterfaceName != "" {
				continue
			}
			for _, ip := range h.Spec.ExpectedIPs {
				a, err := netip.ParseAddr(ip)
				if err == nil && slices.Contains(m.Interfaces[iface], a.Unmap()) {
					return h
				}
			}
		}
		for _, h := range local {
			if h.Spec.InterfaceName == model.AllInterfaces {
				return h
			}
		}
	}
	return nil
}

// profile returns the named profile, Calico's built-in default-allow
// profile, or nil.
func (m *Model) profile(name string) *model.Profile {
	for _, p := range m.Profiles {
		if p.Metadata.Name == name {
			return p
		}
	}
	if name == model.DefaultAllowProfile {
		return &model.Profile{Spec: model.ProfileSpec{Ingress: []model.Rule{{Action: model.Allow}}, Egress: []model.Rule{{Action: model.Allow}}}}
	}
	return nil
}

// labels returns a host endpoint's labels as selectors see them: its own,
// then those of its profiles in order (the first value for a key wins).
func (m *Model) labels(h *model.HostEndpoint) map[string]string {
	out := map[string]string{}
	for k, v := range h.Metadata.Labels {
		out[k] = v
	}
	for _, name := range h.Spec.Profiles {
		if p := m.profile(name); p != nil {
			for k, v := range p.Spec.LabelsToApply {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out
}

// failsafe returns the failsafe ports: the node's FelixConfiguration value
// if set, else the default one's, else Felix's defaults.
func (m *Model) failsafe() (in, out []model.ProtoPort) {
	var def, node *model.FelixConfigurationSpec
	for _, c := range m.FelixConfigs {
		switch c.Metadata.Name {
		case "default":
			def = &c.Spec
		case "node." + m.Node:
			node = &c.Spec
		}
	}
	pick := func(get func(*model.FelixConfigurationSpec) *[]model.ProtoPort, fallback []model.ProtoPort) []model.ProtoPort {
		for _, s := range []*model.FelixConfigurationSpec{node, def} {
			if s != nil && get(s) != nil {
				return *get(s)
			}
		}
		return fallback
	}
	in = pick(func(s *model.FelixConfigurationSpec) *[]model.ProtoPort { return s.FailsafeInboundHostPorts }, model.DefaultFailsafeInbound)
	out = pick(func(s *model.FelixConfigurationSpec) *[]model.ProtoPort { return s.FailsafeOutboundHostPorts }, model.DefaultFailsafeOutbound)
	return in, out
}
