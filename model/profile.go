package model

// Profile is a projectcalico.org/v3 Profile: labels to apply to the
// endpoints that list it in spec.profiles, and rules applied after policy.
type Profile struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ProfileSpec `json:"spec"`
}

// ProfileSpec is the spec of a Profile.
type ProfileSpec struct {
	Ingress       []Rule            `json:"ingress,omitempty"`
	Egress        []Rule            `json:"egress,omitempty"`
	LabelsToApply map[string]string `json:"labelsToApply,omitempty"`
}

// DefaultAllowProfile is the profile Calico provides without it being in
// the datastore: it allows all traffic in both directions. A host endpoint
// that lists it has no default deny.
const DefaultAllowProfile = "projectcalico-default-allow"

// GetKind implements Resource.
func (p *Profile) GetKind() Kind { return KindProfile }

// GetMeta implements Resource.
func (p *Profile) GetMeta() *ObjectMeta { return &p.Metadata }

// Validate implements Resource.
func (p *Profile) Validate() error {
	var e errs
	validateMeta(&e, &p.Metadata)
	for k, v := range p.Spec.LabelsToApply {
		if r := validateLabelKey(k); r != "" {
			e.add("spec.labelsToApply", "%s", r)
		}
		if len(v) > 63 || (v != "" && !labelNameRE.MatchString(v)) {
			e.add("spec.labelsToApply["+k+"]", "%q is not a valid label value", truncate(v))
		}
	}
	validateRules(&e, "spec.ingress", p.Spec.Ingress)
	validateRules(&e, "spec.egress", p.Spec.Egress)
	return e.err()
}
