package calc

import (
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/model"
)

// Graph is the calculation graph. It is not safe for concurrent use: one
// goroutine feeds it updates and flushes its Sequencer.
type Graph struct {
	nodeName string
	log      *zap.Logger

	policies  *policyStore
	endpoints *endpointIndex
	active    *activePolicies
	ipsets    *ipSetIndex
	config    *configResolver
	seq       *Sequencer
}

// NewGraph returns an empty graph computing the state of node nodeName.
func NewGraph(nodeName string, log *zap.Logger) *Graph {
	if log == nil {
		log = zap.NewNop()
	}
	g := &Graph{nodeName: nodeName, log: log, seq: NewSequencer()}
	g.ipsets = newIPSetIndex(g.seq)
	g.active = newActivePolicies(g.seq, g.ipsets, log)
	g.policies = newPolicyStore(log)
	g.endpoints = newEndpointIndex(nodeName, g.seq, g.active)
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

func (g *Graph) onHostEndpoint(name string, hep *model.HostEndpoint) {
	g.ipsets.setItem(itemKey{kind: model.KindHostEndpoint, name: name}, hostEndpointItem(hep))
	g.endpoints.set(name, hep, g.policies)
}

func (g *Graph) onPolicy(name string, pol *policy) {
	// Endpoints first: they decide whether the policy is active, and the
	// active-policy node then (re)resolves its rules.
	g.endpoints.onPolicy(name, pol)
	g.active.onPolicyChanged(name, pol)
}
