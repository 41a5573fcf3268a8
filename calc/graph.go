package calc

import (
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/proto"
)

// Graph is the calculation graph. It is not safe for concurrent use: one
// goroutine feeds it updates and flushes its Sequencer.
type Graph struct {
	nodeName string
	log      *zap.Logger

	heps      map[string]*model.HostEndpoint // every valid HostEndpoint, any node
	policies  *policyStore
	profiles  *profileStore
	endpoints *endpointIndex
	activePol *active
	activePro *active
	ipsets    *ipSetIndex
	config    *configResolver
	seq       *Sequencer
}

// NewGraph returns an empty graph computing the state of node nodeName.
func NewGraph(nodeName string, log *zap.Logger) *Graph {
	if log == nil {
		log = zap.NewNop()
	}
	g := &Graph{nodeName: nodeName, log: log, seq: NewSequencer(), heps: map[string]*model.HostEndpoint{}}
	g.ipsets = newIPSetIndex(g.seq)
	g.activePol = newActive("policy", g.ipsets, log,
		func(name string, r *resolved) { g.seq.OnPolicyUpdate(name, r.msg.(*proto.Policy)) },
		g.seq.OnPolicyRemove)
	g.activePro = newActive("profile", g.ipsets, log,
		func(name string, r *resolved) { g.seq.OnProfileUpdate(name, r.msg.(*proto.Profile)) },
		g.seq.OnProfileRemove)
	g.policies = newPolicyStore(log)
	g.profiles = newProfileStore()
	g.endpoints = newEndpointIndex(nodeName, g.seq, g.activePol, g.activePro)
	g.config = newConfigResolver(nodeName, g.seq)
	return g
}

// Sequencer returns the graph's output sequencer.
func (g *Graph) Sequencer() *Sequencer { return g.seq }

// OnUpdate records the new state of one datastore key: value nil means the
// key is absent. The resulting output accumulates in the Sequencer.
func (g *Graph) OnUpdate(key model.Key, value model.Resource) {
	switch key.Kind {
	case model.KindHostEndpoint:
		hep, _ := value.(*model.HostEndpoint)
		g.onHostEndpoint(key.Name, hep)
	case model.KindGlobalNetworkPolicy:
		pol, _ := value.(*model.GlobalNetworkPolicy)
		name, changed := g.policies.set(key.Name, pol)
		if changed {
			g.onPolicy(name, g.policies.get(name))
		}
	case model.KindProfile:
		pro, _ := value.(*model.Profile)
		g.onProfile(key.Name, pro)
	case model.KindGlobalNetworkSet:
		gns, _ := value.(*model.GlobalNetworkSet)
		g.ipsets.setItem(itemKey{kind: model.KindGlobalNetworkSet, name: key.Name}, netSetItem(gns))
	case model.KindFelixConfiguration:
		fc, _ := value.(*model.FelixConfiguration)
		g.config.set(key.Name, fc)
	}
}

// OnInSync records that the datastore has delivered a complete listing.
func (g *Graph) OnInSync() {
	g.config.flush() // make sure a config has been sent, even the default one
	g.seq.OnInSync()
}

// onHostEndpoint recomputes everything that depends on one HostEndpoint:
// its effective labels (own labels plus its profiles' labelsToApply), its
// contribution to IP sets and, for a local one, its policies and profiles.
func (g *Graph) onHostEndpoint(name string, hep *model.HostEndpoint) {
	var oldProfiles, newProfiles []string
	if old := g.heps[name]; old != nil {
		oldProfiles = old.Spec.Profiles
	}
	key := itemKey{kind: model.KindHostEndpoint, name: name}
	if hep == nil {
		delete(g.heps, name)
		g.profiles.use(name, oldProfiles, nil)
		g.ipsets.setItem(key, nil)
		g.endpoints.set(name, nil, nil, g.policies, g.profiles)
		return
	}
	g.heps[name] = hep
	newProfiles = hep.Spec.Profiles
	g.profiles.use(name, oldProfiles, newProfiles)
	labels := g.profiles.labels(hep)
	g.ipsets.setItem(key, hostEndpointItem(hep, labels))
	g.endpoints.set(name, hep, labels, g.policies, g.profiles)
}

func (g *Graph) onPolicy(name string, pol *policy) {
	// Endpoints first: they decide whether the policy is active, and the
	// active-policy node then (re)resolves its rules.
	g.endpoints.onPolicy(name, pol)
	var src ruleSource
	if pol != nil {
		src = pol
	}
	g.activePol.changed(name, src)
}

// onProfile records a Profile and re-evaluates the endpoints that list it:
// its labels may change theirs, and its existence their profile lists.
func (g *Graph) onProfile(name string, p *model.Profile) {
	users := g.profiles.set(name, p)
	if cur := g.profiles.get(name); cur != nil {
		g.activePro.changed(name, profileSource{cur})
	}
	for _, h := range users {
		g.onHostEndpoint(h, g.heps[h])
	}
}
