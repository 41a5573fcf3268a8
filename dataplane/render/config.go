package render

import (
	"net/netip"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// Config holds the choices that shape rendering but come from untrackd's
// own configuration rather than the datastore.
type Config struct {
	// MarkAllow is the packet-mark bit set on packets untracked policy
	// allowed; later stages accept packets carrying it.
	MarkAllow uint32
	// MarkPass is the bit a Pass rule sets to end its tier.
	MarkPass uint32
	// MarkAccept is the bit a normal policy's or profile's Allow sets for
	// the endpoint chain that called it.
	MarkAccept uint32
	// LogPrefix starts the prefix of Log rules.
	LogPrefix string
}

// DefaultConfig returns the default marks (bits 28 to 30, outside the
// ranges kube-proxy and Calico use by default) and log prefix.
func DefaultConfig() Config {
	return Config{MarkAllow: 0x10000000, MarkPass: 0x20000000, MarkAccept: 0x40000000, LogPrefix: "untrackd"}
}

// Input is the desired dataplane state, as the calculation graph sent it,
// plus the host's interfaces.
type Input struct {
	Config    *proto.ConfigUpdate                  // failsafe ports; nil = none
	Endpoints map[string]*proto.HostEndpointUpdate // local host endpoints by name
	Policies  map[string]*proto.Policy             // active policies by name
	Profiles  map[string]*proto.Profile            // active profiles by name
	IPSets    map[string]proto.IPSetType           // the IP sets that exist, by id
	// Interfaces are the host's interfaces and their addresses, used to
	// find the interface of a host endpoint that gives only expectedIPs.
	Interfaces map[string][]netip.Addr
}

// Ruleset is the desired content of untrackd's table, except set elements
// (see Intervals and Tuples): chains by name, and sets by name.
type Ruleset struct {
	Chains map[string]*nft.Chain
	Sets   map[string]nft.Set
}

func (rs *Ruleset) add(c *nft.Chain) *nft.Chain {
	rs.Chains[c.Name] = c
	return c
}

func baseChain(name string, hook nft.Hook, prio int32) *nft.Chain {
	return &nft.Chain{Name: name, Base: &nft.BaseChain{Hook: hook, Priority: prio, Policy: nft.PolicyAccept}}
}

// rule builds a rule from expressions.
func rule(comment string, exprs ...nft.Expr) nft.Rule {
	return nft.Rule{Exprs: exprs, Comment: comment}
}

func markIs(bit uint32) nft.Mark { return nft.Mark{Mask: bit, Value: bit} }

var (
	accept = nft.Verdict{Kind: nft.Accept}
	drop   = nft.Verdict{Kind: nft.Drop}
	ret    = nft.Verdict{Kind: nft.Return}
)

func jump(c string) nft.Verdict  { return nft.Verdict{Kind: nft.Jump, Chain: c} }
func gotoC(c string) nft.Verdict { return nft.Verdict{Kind: nft.Goto, Chain: c} }
