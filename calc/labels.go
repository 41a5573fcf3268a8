package calc

import (
	"github.com/untrackd/untrackd/model"
)

// profileStore holds every Profile and which HostEndpoints list each, so
// that a profile's labelsToApply can be inherited by its endpoints and a
// change to it reaches them.
type profileStore struct {
	profiles map[string]*model.Profile
	users    map[string]map[string]bool // profile name → host endpoint names listing it
}

func newProfileStore() *profileStore {
	return &profileStore{profiles: map[string]*model.Profile{}, users: map[string]map[string]bool{}}
}

// set records Profile name (nil: absent) and returns the host endpoints
// that list it.
func (s *profileStore) set(name string, p *model.Profile) []string {
	if p == nil {
		delete(s.profiles, name)
	} else {
		s.profiles[name] = p
	}
	var heps []string
	for h := range s.users[name] {
		heps = append(heps, h)
	}
	return heps
}

// get returns the profile called name: the stored one, or Calico's built-in
// default-allow profile when none is stored under that name, or nil.
func (s *profileStore) get(name string) *model.Profile {
	if p := s.profiles[name]; p != nil {
		return p
	}
	if name == model.DefaultAllowProfile {
		return defaultAllow
	}
	return nil
}

var defaultAllow = &model.Profile{
	Metadata: model.ObjectMeta{Name: model.DefaultAllowProfile},
	Spec: model.ProfileSpec{
		Ingress: []model.Rule{{Action: model.Allow}},
		Egress:  []model.Rule{{Action: model.Allow}},
	},
}

// use records that host endpoint hep lists profiles (replacing what it
// listed before; nil: it lists none or is gone).
func (s *profileStore) use(hep string, old, profiles []string) {
	for _, p := range old {
		delete(s.users[p], hep)
		if len(s.users[p]) == 0 {
			delete(s.users, p)
		}
	}
	for _, p := range profiles {
		if s.users[p] == nil {
			s.users[p] = map[string]bool{}
		}
		s.users[p][hep] = true
	}
}

// labels returns the labels selectors see on a host endpoint: its own,
// then those its profiles apply, in the order it lists them (the first
// value for a key wins), as Calico's label inheritance does.
func (s *profileStore) labels(h *model.HostEndpoint) map[string]string {
	if len(h.Spec.Profiles) == 0 {
		return h.Metadata.Labels
	}
	out := make(map[string]string, len(h.Metadata.Labels))
	for k, v := range h.Metadata.Labels {
		out[k] = v
	}
	for _, name := range h.Spec.Profiles {
		p := s.get(name)
		if p == nil {
			continue
		}
		for k, v := range p.Spec.LabelsToApply {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return out
}
