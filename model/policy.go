package model

import "strings"

// GlobalNetworkPolicy is a projectcalico.org/v3 GlobalNetworkPolicy.
type GlobalNetworkPolicy struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta              `json:"metadata"`
	Spec     GlobalNetworkPolicySpec `json:"spec"`
}

// GlobalNetworkPolicySpec is the spec of a GlobalNetworkPolicy.
type GlobalNetworkPolicySpec struct {
	// Tier is the policy's tier; empty means DefaultTier.
	Tier string `json:"tier,omitempty"`
	// Order sorts policies ascending; nil sorts after every ordered policy.
	Order *float64 `json:"order,omitempty"`
	// Ingress and Egress are the ordered rules.
	Ingress []Rule `json:"ingress,omitempty"`
	Egress  []Rule `json:"egress,omitempty"`
	// Selector picks the endpoints the policy applies to ("" = all()).
	Selector string `json:"selector,omitempty"`
	// Types says which directions the policy applies to; see EffectiveTypes.
	Types []PolicyType `json:"types,omitempty"`
	// DoNotTrack makes the policy untracked: applied before conntrack, and
	// allowed packets are not tracked.
	DoNotTrack bool `json:"doNotTrack,omitempty"`
	// PreDNAT applies the policy's ingress rules before DNAT.
	PreDNAT bool `json:"preDNAT,omitempty"`
	// ApplyOnForward applies the policy to forwarded traffic too.
	ApplyOnForward bool `json:"applyOnForward,omitempty"`
	// ServiceAccountSelector and NamespaceSelector select Kubernetes
	// workloads; they never match a host endpoint.
	ServiceAccountSelector string `json:"serviceAccountSelector,omitempty"`
	NamespaceSelector      string `json:"namespaceSelector,omitempty"`
	// PerformanceHints are hints to Calico's policy engine; ignored.
	PerformanceHints []string `json:"performanceHints,omitempty"`
}

// PolicyType is a direction a policy applies to.
type PolicyType string

// The policy types.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)

// DefaultTier is the only tier untrackd supports.
const DefaultTier = "default"

// defaultTierPrefix is the prefix Calico v3.29.0–3.29.3 gave default-tier
// policy names.
const defaultTierPrefix = DefaultTier + "."

// NormalizePolicyName strips the "default." prefix that some Calico versions
// gave default-tier policies, so that "default.foo" and "foo" name the same
// policy. It reports whether a prefix was stripped.
func NormalizePolicyName(name string) (string, bool) {
	if rest, ok := strings.CutPrefix(name, defaultTierPrefix); ok && rest != "" {
		return rest, true
	}
	return name, false
}

// EffectiveTypes returns Spec.Types, or when it is empty the default Calico
// applies: Ingress when there are no egress rules, Egress when there are
// egress rules but no ingress rules, both when there are both.
func (s *GlobalNetworkPolicySpec) EffectiveTypes() []PolicyType {
	if len(s.Types) > 0 {
		return s.Types
	}
	switch {
	case len(s.Egress) == 0:
		return []PolicyType{PolicyTypeIngress}
	case len(s.Ingress) == 0:
		return []PolicyType{PolicyTypeEgress}
	default:
		return []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
	}
}

// AppliesTo reports whether the policy's effective types include t.
func (s *GlobalNetworkPolicySpec) AppliesTo(t PolicyType) bool {
	for _, x := range s.EffectiveTypes() {
		if x == t {
			return true
		}
	}
	return false
}

// Rule is one policy rule: match criteria and an action.
type Rule struct {
	Action      Action        `json:"action"`
	IPVersion   *int          `json:"ipVersion,omitempty"`
	Protocol    *Protocol     `json:"protocol,omitempty"`
	ICMP        *ICMPFields   `json:"icmp,omitempty"`
	NotProtocol *Protocol     `json:"notProtocol,omitempty"`
	NotICMP     *ICMPFields   `json:"notICMP,omitempty"`
	Source      EntityRule    `json:"source,omitzero"`
	Destination EntityRule    `json:"destination,omitzero"`
	HTTP        *HTTPMatch    `json:"http,omitempty"`
	Metadata    *RuleMetadata `json:"metadata,omitempty"`
}

// Action is what a rule does with a packet it matches.
type Action string

// The rule actions.
const (
	Allow Action = "Allow"
	Deny  Action = "Deny"
	Log   Action = "Log"
	Pass  Action = "Pass"
)

// ICMPFields matches an ICMP type and optionally code.
type ICMPFields struct {
	Type *int `json:"type,omitempty"`
	Code *int `json:"code,omitempty"`
}

// EntityRule matches the source or destination of a packet.
type EntityRule struct {
	Nets              []string             `json:"nets,omitempty"`
	Selector          string               `json:"selector,omitempty"`
	NamespaceSelector string               `json:"namespaceSelector,omitempty"`
	Services          *ServiceMatch        `json:"services,omitempty"`
	Ports             []Port               `json:"ports,omitempty"`
	NotNets           []string             `json:"notNets,omitempty"`
	NotSelector       string               `json:"notSelector,omitempty"`
	NotPorts          []Port               `json:"notPorts,omitempty"`
	ServiceAccounts   *ServiceAccountMatch `json:"serviceAccounts,omitempty"`
}

// ServiceMatch matches a Kubernetes Service (not supported for host endpoints).
type ServiceMatch struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// ServiceAccountMatch matches Kubernetes service accounts (not supported for
// host endpoints).
type ServiceAccountMatch struct {
	Names    []string `json:"names,omitempty"`
	Selector string   `json:"selector,omitempty"`
}

// HTTPMatch matches HTTP requests (an application-layer feature; rejected).
type HTTPMatch struct {
	Methods []string   `json:"methods,omitempty"`
	Paths   []HTTPPath `json:"paths,omitempty"`
}

// HTTPPath is one HTTP path match.
type HTTPPath struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
}

// RuleMetadata carries annotations; it is not matched.
type RuleMetadata struct {
	Annotations map[string]string `json:"annotations,omitempty"`
}

// GetKind implements Resource.
func (p *GlobalNetworkPolicy) GetKind() Kind { return KindGlobalNetworkPolicy }

// GetMeta implements Resource.
func (p *GlobalNetworkPolicy) GetMeta() *ObjectMeta { return &p.Metadata }
