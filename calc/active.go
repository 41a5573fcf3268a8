package calc

import (
	"slices"

	"go.uber.org/zap"
	gproto "google.golang.org/protobuf/proto"
)

// ruleSource is something with rules that a local endpoint uses: a policy
// or a profile. resolve turns it into the message the dataplane gets.
type ruleSource interface {
	resolve(name string) *resolved
}

// active tracks the policies (or profiles) that apply to at least one local
// endpoint: one reference per (endpoint, policy) pair. The first reference
// resolves the rules (selectors and named ports become IP set references)
// and sends them; the last removes them and releases the IP sets.
type active struct {
	kind     string // "policy" or "profile", for logs
	ipsets   *ipSetIndex
	log      *zap.Logger
	send     func(name string, r *resolved)
	remove   func(name string)
	refs     map[string]int
	resolved map[string]*resolved
}

// resolved is the last resolution sent for one active policy or profile.
type resolved struct {
	src     ruleSource     // what it was resolved from
	msg     gproto.Message // *proto.Policy or *proto.Profile
	ipsets  []ipSetSpec    // one entry per reference taken
	skipped []string       // origins of rules that cannot match
}

func newActive(kind string, ipsets *ipSetIndex, log *zap.Logger, send func(string, *resolved), remove func(string)) *active {
	return &active{kind: kind, ipsets: ipsets, log: log, send: send, remove: remove,
		refs: map[string]int{}, resolved: map[string]*resolved{}}
}

// addRef takes a reference on name (currently src); the first makes it
// active.
func (a *active) addRef(name string, src ruleSource) {
	a.refs[name]++
	if a.refs[name] == 1 {
		a.resolve(name, src)
	}
}

// removeRef drops a reference; the last makes it inactive.
func (a *active) removeRef(name string) {
	a.refs[name]--
	if a.refs[name] > 0 {
		return
	}
	delete(a.refs, name)
	r := a.resolved[name]
	delete(a.resolved, name)
	a.remove(name)
	if r != nil {
		for _, s := range r.ipsets {
			a.ipsets.unref(s)
		}
	}
}

// changed re-resolves name if it is active (src nil: it is gone, and its
// users will drop their references).
func (a *active) changed(name string, src ruleSource) {
	if a.refs[name] > 0 && src != nil {
		a.resolve(name, src)
	}
}

// resolve (re)computes the rules, references the IP sets the new rules use
// before releasing those the old ones used (so a set used by both is never
// removed and re-added), and sends the result if it changed.
func (a *active) resolve(name string, src ruleSource) {
	old := a.resolved[name]
	if old != nil && old.src == src {
		return
	}
	r := src.resolve(name)
	r.src = src
	for _, s := range r.ipsets {
		a.ipsets.ref(s)
	}
	a.resolved[name] = r
	if old != nil {
		for _, s := range old.ipsets {
			a.ipsets.unref(s)
		}
	}
	if len(r.skipped) > 0 && (old == nil || !slices.Equal(old.skipped, r.skipped)) {
		a.log.Warn("rules untrackd cannot match on host endpoints are skipped",
			zap.String(a.kind, name), zap.Strings("rules", r.skipped))
	}
	if old == nil || !gproto.Equal(old.msg, r.msg) {
		a.send(name, r)
	}
}
