package model

// HostEndpoint is a projectcalico.org/v3 HostEndpoint: one interface (or all
// interfaces, or the interface holding one of ExpectedIPs) of one node.
type HostEndpoint struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta       `json:"metadata"`
	Spec     HostEndpointSpec `json:"spec"`
}

// HostEndpointSpec is the spec of a HostEndpoint.
type HostEndpointSpec struct {
	// Node is the name of the node the endpoint belongs to.
	Node string `json:"node,omitempty"`
	// InterfaceName is an interface name, "*" for every interface of the
	// host, or empty (then ExpectedIPs pick the interface).
	InterfaceName string `json:"interfaceName,omitempty"`
	// ExpectedIPs are the endpoint's addresses. Rule selectors that match
	// the endpoint resolve to these addresses.
	ExpectedIPs []string `json:"expectedIPs,omitempty"`
	// Profiles names Profile resources applied after policy.
	Profiles []string `json:"profiles,omitempty"`
	// Ports are the endpoint's named ports.
	Ports []EndpointPort `json:"ports,omitempty"`
}

// EndpointPort is a named port of an endpoint.
type EndpointPort struct {
	Name     string   `json:"name"`
	Protocol Protocol `json:"protocol"`
	Port     uint16   `json:"port"`
}

// AllInterfaces is the InterfaceName of a HostEndpoint that covers every
// interface of its host.
const AllInterfaces = "*"

// GetKind implements Resource.
func (h *HostEndpoint) GetKind() Kind { return KindHostEndpoint }

// GetMeta implements Resource.
func (h *HostEndpoint) GetMeta() *ObjectMeta { return &h.Metadata }
