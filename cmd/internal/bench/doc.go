// Package bench holds what cmd/bench-conntrack and cmd/bench-scale share:
// throwaway network namespaces and veth links, processes started in them,
// global sysctls changed for a run and restored on every exit path, CPU and
// conntrack counters read from /proc, an nftables event monitor, the
// untrackd daemon started in a namespace with an etcd client dialling into
// it, result tables, JSON and PNG plots.
//
// Nothing here is used by untrackd itself. Everything needs root.
package bench
