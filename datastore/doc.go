// Package datastore reads untrackd's Calico v3 resources from etcd and hands
// them on as a stream of per-key updates.
//
// It is the first arrow of the data flow (datastore → calc → sequencer →
// dataplane): a Syncer lists the four resource prefixes untrackd reads
// (model.Kinds) at one etcd revision, watches them from that revision on,
// and emits Batches of Updates on a channel, together with a Status that says
// whether the consumer's view is complete (InSync) or not.
//
// The package also builds etcd clients (NewClient, with TLS), runs an
// embedded single-member etcd (StartEmbedded, for single-host use and tests)
// and writes resources (Put, Delete).
//
// Contracts a consumer can rely on:
//   - An Update carries the whole new state of one key: a decoded, validated
//     resource, or nil when the key is absent or holds something invalid.
//     There is no event type; existence is nil versus non-nil.
//   - Nothing is ever flushed. After a lost watch, a compaction or an etcd
//     restart the Syncer re-lists and emits only keys whose state differs
//     from what it emitted before, so the consumer keeps its state throughout.
//   - The first Batch with Status InSync follows the complete first listing.
//     Status leaves InSync (with a Batch that may carry no updates) whenever
//     the Syncer stops being sure it is up to date.
package datastore
