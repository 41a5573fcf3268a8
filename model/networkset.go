package model

// GlobalNetworkSet is a projectcalico.org/v3 GlobalNetworkSet: a labelled list
// of CIDRs that rule selectors can match.
type GlobalNetworkSet struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta           `json:"metadata"`
	Spec     GlobalNetworkSetSpec `json:"spec"`
}

// GlobalNetworkSetSpec is the spec of a GlobalNetworkSet.
type GlobalNetworkSetSpec struct {
	// Nets are IPv4 and IPv6 CIDRs (a bare address means a single host).
	Nets []string `json:"nets,omitempty"`
}

// GetKind implements Resource.
func (s *GlobalNetworkSet) GetKind() Kind { return KindGlobalNetworkSet }

// GetMeta implements Resource.
func (s *GlobalNetworkSet) GetMeta() *ObjectMeta { return &s.Metadata }
