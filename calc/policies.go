package calc

import (
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
)

// policy is a GlobalNetworkPolicy with its selector parsed.
type policy struct {
	name string
	spec *model.GlobalNetworkPolicySpec
	sel  *selector.Selector
	// selectsHosts is false for policies that can only select Kubernetes
	// workloads (a namespaceSelector other than global(), or a
	// serviceAccountSelector): they never apply to a host endpoint.
	selectsHosts bool
}

// selects reports whether the policy applies to an endpoint with labels.
func (p *policy) selects(labels map[string]string) bool {
	return p.selectsHosts && p.sel.Evaluate(selector.Map(labels))
}

// before reports whether p is applied before q: ascending order, a policy
// without order after every ordered one, ties broken by name.
func (p *policy) before(q *policy) bool {
	po, qo := p.spec.Order, q.spec.Order
	switch {
	case po != nil && qo != nil && *po != *qo:
		return *po < *qo
	case po != nil && qo == nil:
		return true
	case po == nil && qo != nil:
		return false
	}
	return p.name < q.name
}

// policyStore holds every valid GlobalNetworkPolicy by its normalised name.
// A policy stored both as "default.<name>" (as Calico v3.29.0–3.29.3 wrote
// it) and as "<name>" is one policy; the unprefixed key wins while both
// exist.
type policyStore struct {
	log    *zap.Logger
	byKey  map[string]*model.GlobalNetworkPolicy // etcd key name → value
	byName map[string]*policy                    // normalised name → effective policy
}

func newPolicyStore(log *zap.Logger) *policyStore {
	return &policyStore{log: log, byKey: map[string]*model.GlobalNetworkPolicy{}, byName: map[string]*policy{}}
}

// set records the value at etcd key name keyName (nil: absent) and returns
// the normalised name and whether the effective policy changed.
func (s *policyStore) set(keyName string, p *model.GlobalNetworkPolicy) (string, bool) {
	if p == nil {
		delete(s.byKey, keyName)
	} else {
		s.byKey[keyName] = p
	}
	name, _ := model.NormalizePolicyName(keyName)
	plain, prefixed := s.byKey[name], s.byKey["default."+name]
	eff := plain
	if eff == nil {
		eff = prefixed
	} else if prefixed != nil && p != nil {
		s.log.Warn("policy stored under both names; using the unprefixed one",
			zap.String("policy", name), zap.String("ignored", "default."+name))
	}
	old := s.byName[name]
	if eff == nil {
		delete(s.byName, name)
		return name, old != nil
	}
	if old != nil && old.spec == &eff.Spec {
		return name, false
	}
	s.byName[name] = newPolicy(name, eff)
	return name, true
}

func newPolicy(name string, p *model.GlobalNetworkPolicy) *policy {
	sel, err := selector.Parse(p.Spec.Selector)
	if err != nil { // validated by the datastore; never select on a bad one
		sel = selector.MustParse("!all()")
	}
	hosts := p.Spec.ServiceAccountSelector == ""
	if ns := p.Spec.NamespaceSelector; ns != "" {
		nsSel, err := selector.Parse(ns)
		hosts = hosts && err == nil && nsSel.String() == "global()"
	}
	return &policy{name: name, spec: &p.Spec, sel: sel, selectsHosts: hosts}
}

// get returns the effective policy called name, or nil.
func (s *policyStore) get(name string) *policy { return s.byName[name] }

// all calls fn for every effective policy.
func (s *policyStore) all(fn func(*policy)) {
	for _, p := range s.byName {
		fn(p)
	}
}
