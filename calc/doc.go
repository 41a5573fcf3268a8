// Package calc is untrackd's calculation graph: it turns the datastore's
// resources into the desired dataplane state of this node, as a stream of
// proto.ToDataplane messages.
//
// The graph is owned by one goroutine (see Loop). Its nodes are plain
// synchronous method calls; nothing in this package takes a lock or starts
// a goroutine other than Loop itself. Output depends only on the current
// input state, never on the order in which it arrived:
//
//	datastore updates ──► Graph.OnUpdate
//	                        │
//	                        ├─ policies     (default.<name> aliases resolved)
//	                        ├─ endpoints    (this node's HostEndpoints → ordered policy lists)
//	                        ├─ active policies (policies some local endpoint uses → resolved rules)
//	                        ├─ ipsets       (rule selectors → members from HostEndpoints and GlobalNetworkSets)
//	                        └─ config       (FelixConfiguration default + node.<name>)
//	                        ▼
//	                     Sequencer ──► []*proto.ToDataplane (dependency-ordered, coalesced)
package calc
