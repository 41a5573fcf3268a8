package calc

import (
	"slices"

	"go.uber.org/zap"
	gproto "google.golang.org/protobuf/proto"

	"github.com/untrackd/untrackd/model/selector"
	"github.com/untrackd/untrackd/proto"
)

// activePolicies tracks the policies that apply to at least one local
// endpoint, resolves their rules (selectors become IP set references) and
// holds the IP sets those rules use.
type activePolicies struct {
	seq    *Sequencer
	ipsets *ipSetIndex
	log    *zap.Logger
	refs   map[string]int
	// resolved is the last resolution sent for each active policy.
	resolved map[string]*resolvedPolicy
}

type resolvedPolicy struct {
	spec    *policy // the policy this was resolved from
	msg     *proto.Policy
	ipsets  []*selector.Selector // one entry per reference taken
	skipped []string             // origins of rules that cannot match
}

func newActivePolicies(seq *Sequencer, ipsets *ipSetIndex, log *zap.Logger) *activePolicies {
	return &activePolicies{seq: seq, ipsets: ipsets, log: log, refs: map[string]int{}, resolved: map[string]*resolvedPolicy{}}
}

// addRef takes a reference on policy name (currently p); the first makes it
// active.
func (a *activePolicies) addRef(name string, p *policy) {
	a.refs[name]++
	if a.refs[name] == 1 {
		a.resolve(name, p)
	}
}

// removeRef drops a reference; the last makes the policy inactive.
func (a *activePolicies) removeRef(name string) {
	a.refs[name]--
	if a.refs[name] > 0 {
		return
	}
	delete(a.refs, name)
	r := a.resolved[name]
	delete(a.resolved, name)
	a.seq.OnPolicyRemove(name)
	if r != nil {
		for _, s := range r.ipsets {
			a.ipsets.unref(s)
		}
	}
}

// onPolicyChanged re-resolves policy name if it is active.
func (a *activePolicies) onPolicyChanged(name string, p *policy) {
	if a.refs[name] > 0 && p != nil {
		a.resolve(name, p)
	}
}

// resolve (re)computes the policy's rules, references the IP sets the new
// rules use before releasing those the old ones used (so a set used by both
// is never removed and re-added), and sends the policy if it changed.
func (a *activePolicies) resolve(name string, p *policy) {
	old := a.resolved[name]
	if old != nil && old.spec == p {
		return
	}
	r := resolvePolicy(name, p.spec)
	for _, s := range r.ipsets {
		a.ipsets.ref(s)
	}
	a.resolved[name] = r
	r.spec = p
	if old != nil {
		for _, s := range old.ipsets {
			a.ipsets.unref(s)
		}
	}
	if len(r.skipped) > 0 && (old == nil || !slices.Equal(old.skipped, r.skipped)) {
		a.log.Warn("policy has rules untrackd cannot match on host endpoints; they are skipped",
			zap.String("policy", name), zap.Strings("rules", r.skipped))
	}
	if old == nil || !gproto.Equal(old.msg, r.msg) {
		a.seq.OnPolicyUpdate(name, r.msg)
	}
}
