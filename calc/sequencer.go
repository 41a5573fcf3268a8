package calc

import (
	"maps"
	"slices"

	"github.com/untrackd/untrackd/proto"
)

// Sequencer sits between the graph and the dataplane. It keeps at most one
// pending change per object, drops changes that cancel out, and Flush emits
// them in an order in which nothing is referenced before it exists and
// nothing is removed while still referenced:
//
//  1. config
//  2. IP set creations/replacements, then IP set member deltas
//     (sets exist before the policies that use them)
//  3. policy and profile updates (they exist before endpoints list them)
//  4. endpoint updates, then endpoint removals
//  5. policy and profile removals (no endpoint lists them any more)
//  6. IP set removals (no policy uses them any more)
//  7. InSync, once, after the first complete state
//
// Until OnInSync has been called, Flush returns nothing: the whole initial
// state is emitted as one ordered batch with InSync last, so the dataplane
// never sees a partial start-of-day state.
type Sequencer struct {
	config *proto.ConfigUpdate

	ipsetFull    map[string]func() []string // id → its members, read at flush
	ipsetTypes   map[string]proto.IPSetType // id → type, for ipsetFull
	ipsetAdded   map[string]map[string]bool // id → members added since the last flush
	ipsetRemoved map[string]map[string]bool // id → members removed since the last flush
	ipsetRemoves map[string]bool

	policyUpdates map[string]*proto.Policy
	policyRemoves map[string]bool

	profileUpdates map[string]*proto.Profile
	profileRemoves map[string]bool

	endpointUpdates map[string]*proto.HostEndpointUpdate
	endpointRemoves map[string]bool

	// sent* record what the dataplane knows, so that a removal of
	// something never sent is dropped instead of emitted.
	sentIPSets    map[string]bool
	sentPolicies  map[string]bool
	sentProfiles  map[string]bool
	sentEndpoints map[string]bool

	inSync     bool // OnInSync called
	sentInSync bool
}

// NewSequencer returns an empty Sequencer.
func NewSequencer() *Sequencer {
	s := &Sequencer{sentIPSets: map[string]bool{}, sentPolicies: map[string]bool{}, sentProfiles: map[string]bool{}, sentEndpoints: map[string]bool{}}
	s.reset()
	return s
}

func (s *Sequencer) reset() {
	s.config = nil
	s.ipsetFull = map[string]func() []string{}
	s.ipsetTypes = map[string]proto.IPSetType{}
	s.ipsetAdded = map[string]map[string]bool{}
	s.ipsetRemoved = map[string]map[string]bool{}
	s.ipsetRemoves = map[string]bool{}
	s.policyUpdates = map[string]*proto.Policy{}
	s.policyRemoves = map[string]bool{}
	s.profileUpdates = map[string]*proto.Profile{}
	s.profileRemoves = map[string]bool{}
	s.endpointUpdates = map[string]*proto.HostEndpointUpdate{}
	s.endpointRemoves = map[string]bool{}
}

// OnConfigUpdate records a new effective configuration.
func (s *Sequencer) OnConfigUpdate(c *proto.ConfigUpdate) { s.config = c }

// OnIPSetUpdate records that IP set id, of type t, must be sent whole;
// members returns its members (sorted) when Flush sends it, so changes
// until then need no record of their own, and the sequencer keeps no copy
// of a large set.
func (s *Sequencer) OnIPSetUpdate(id string, t proto.IPSetType, members func() []string) {
	s.ipsetFull[id] = members
	s.ipsetTypes[id] = t
	delete(s.ipsetAdded, id)
	delete(s.ipsetRemoved, id)
	delete(s.ipsetRemoves, id)
}

// OnIPSetMemberAdded records that member joined IP set id.
func (s *Sequencer) OnIPSetMemberAdded(id, member string) {
	if s.ipsetFull[id] != nil {
		return // the full update reads the members at flush
	}
	if s.ipsetRemoved[id][member] {
		delete(s.ipsetRemoved[id], member)
		return
	}
	addTo2(s.ipsetAdded, id, member)
}

// OnIPSetMemberRemoved records that member left IP set id.
func (s *Sequencer) OnIPSetMemberRemoved(id, member string) {
	if s.ipsetFull[id] != nil {
		return // the full update reads the members at flush
	}
	if s.ipsetAdded[id][member] {
		delete(s.ipsetAdded[id], member)
		return
	}
	addTo2(s.ipsetRemoved, id, member)
}

func addTo2(m map[string]map[string]bool, id, member string) {
	if m[id] == nil {
		m[id] = map[string]bool{}
	}
	m[id][member] = true
}

// OnIPSetRemove records that IP set id is no longer used.
func (s *Sequencer) OnIPSetRemove(id string) {
	delete(s.ipsetFull, id)
	delete(s.ipsetTypes, id)
	delete(s.ipsetAdded, id)
	delete(s.ipsetRemoved, id)
	if s.sentIPSets[id] {
		s.ipsetRemoves[id] = true
	}
}

// OnPolicyUpdate records an active policy's new resolved form.
func (s *Sequencer) OnPolicyUpdate(name string, p *proto.Policy) {
	s.policyUpdates[name] = p
	delete(s.policyRemoves, name)
}

// OnPolicyRemove records that a policy is no longer active.
func (s *Sequencer) OnPolicyRemove(name string) {
	delete(s.policyUpdates, name)
	if s.sentPolicies[name] {
		s.policyRemoves[name] = true
	}
}

// OnProfileUpdate records an active profile's new resolved form.
func (s *Sequencer) OnProfileUpdate(name string, p *proto.Profile) {
	s.profileUpdates[name] = p
	delete(s.profileRemoves, name)
}

// OnProfileRemove records that a profile is no longer active.
func (s *Sequencer) OnProfileRemove(name string) {
	delete(s.profileUpdates, name)
	if s.sentProfiles[name] {
		s.profileRemoves[name] = true
	}
}

// OnEndpointUpdate records a local endpoint's new state.
func (s *Sequencer) OnEndpointUpdate(u *proto.HostEndpointUpdate) {
	s.endpointUpdates[u.Name] = u
	delete(s.endpointRemoves, u.Name)
}

// OnEndpointRemove records that a local endpoint is gone.
func (s *Sequencer) OnEndpointRemove(name string) {
	delete(s.endpointUpdates, name)
	if s.sentEndpoints[name] {
		s.endpointRemoves[name] = true
	}
}

// OnInSync records that the state is complete.
func (s *Sequencer) OnInSync() { s.inSync = true }

// InSync reports whether OnInSync has been called.
func (s *Sequencer) InSync() bool { return s.inSync }

// Pending reports whether Flush would return anything.
func (s *Sequencer) Pending() bool {
	if !s.inSync {
		return false
	}
	return !s.sentInSync || s.config != nil || len(s.ipsetFull) > 0 || len(s.ipsetAdded) > 0 ||
		len(s.ipsetRemoved) > 0 || len(s.ipsetRemoves) > 0 || len(s.policyUpdates) > 0 ||
		len(s.policyRemoves) > 0 || len(s.profileUpdates) > 0 || len(s.profileRemoves) > 0 ||
		len(s.endpointUpdates) > 0 || len(s.endpointRemoves) > 0
}

// Flush returns the pending changes in dependency order (see the type
// comment) and forgets them. It returns nil before OnInSync.
func (s *Sequencer) Flush() []*proto.ToDataplane {
	if !s.Pending() {
		return nil
	}
	var out []*proto.ToDataplane
	emit := func(m *proto.ToDataplane) { out = append(out, m) }
	if s.config != nil {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_ConfigUpdate{ConfigUpdate: s.config}})
	}
	for _, id := range slices.Sorted(maps.Keys(s.ipsetFull)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_IpsetUpdate{IpsetUpdate: &proto.IPSetUpdate{
			Id: id, Type: s.ipsetTypes[id], Members: s.ipsetFull[id]()}}})
		s.sentIPSets[id] = true
	}
	for _, id := range slices.Sorted(maps.Keys(union(s.ipsetAdded, s.ipsetRemoved))) {
		added, removed := slices.Sorted(maps.Keys(s.ipsetAdded[id])), slices.Sorted(maps.Keys(s.ipsetRemoved[id]))
		if len(added)+len(removed) == 0 {
			continue
		}
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_IpsetDeltaUpdate{IpsetDeltaUpdate: &proto.IPSetDeltaUpdate{
			Id: id, Added: added, Removed: removed}}})
	}
	for _, name := range slices.Sorted(maps.Keys(s.policyUpdates)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_ActivePolicyUpdate{ActivePolicyUpdate: &proto.ActivePolicyUpdate{
			Name: name, Policy: s.policyUpdates[name]}}})
		s.sentPolicies[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(s.profileUpdates)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_ActiveProfileUpdate{ActiveProfileUpdate: &proto.ActiveProfileUpdate{
			Name: name, Profile: s.profileUpdates[name]}}})
		s.sentProfiles[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(s.endpointUpdates)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_HostEndpointUpdate{HostEndpointUpdate: s.endpointUpdates[name]}})
		s.sentEndpoints[name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(s.endpointRemoves)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_HostEndpointRemove{HostEndpointRemove: &proto.HostEndpointRemove{Name: name}}})
		delete(s.sentEndpoints, name)
	}
	for _, name := range slices.Sorted(maps.Keys(s.policyRemoves)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_ActivePolicyRemove{ActivePolicyRemove: &proto.ActivePolicyRemove{Name: name}}})
		delete(s.sentPolicies, name)
	}
	for _, name := range slices.Sorted(maps.Keys(s.profileRemoves)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_ActiveProfileRemove{ActiveProfileRemove: &proto.ActiveProfileRemove{Name: name}}})
		delete(s.sentProfiles, name)
	}
	for _, id := range slices.Sorted(maps.Keys(s.ipsetRemoves)) {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_IpsetRemove{IpsetRemove: &proto.IPSetRemove{Id: id}}})
		delete(s.sentIPSets, id)
	}
	if !s.sentInSync {
		emit(&proto.ToDataplane{Payload: &proto.ToDataplane_InSync{InSync: &proto.InSync{}}})
		s.sentInSync = true
	}
	s.reset()
	return out
}

func union(a, b map[string]map[string]bool) map[string]bool {
	u := map[string]bool{}
	for k := range a {
		u[k] = true
	}
	for k := range b {
		u[k] = true
	}
	return u
}
