// Package dataplane programs the kernel from the calculation graph's output.
//
// A Driver receives batches of proto.ToDataplane messages. Recording a
// message (OnUpdate) is cheap and does no I/O; after each batch, and only
// once the graph has sent InSync, the driver renders the desired table
// (package render, a pure function), diffs it against what it believes the
// kernel holds, and applies the difference as one atomic nft transaction:
// new sets and changed set elements, changed chains rewritten (flush and
// re-add), unused chains and sets deleted last. Chains are compared by the
// hashes stored in their rules' comments, so the kernel is read back only at
// start, after a failed write and on the periodic refresh.
//
// Nothing is written, and so nothing pruned, before the first InSync: a
// restarted untrackd leaves the table it finds untouched until it knows the
// complete desired state, then changes only what differs.
package dataplane
