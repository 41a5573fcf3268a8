// Package nft is untrackd's view of the kernel's nftables: typed objects for
// the one table untrackd owns (chains, rules made of typed expressions, and
// interval sets of addresses), a Transaction of kernel verbs, and the Writer
// interface that applies a Transaction atomically.
//
// Two Writers exist: Netlink, which speaks to the kernel through
// github.com/google/nftables in one netlink batch per Run, and Fake, an
// in-memory table for tests that applies transactions all or nothing,
// rejects what the kernel would reject, and dumps canonical text.
//
// Every rule untrackd writes carries its Hash in the rule's comment
// (UserData), so a fresh process can compare the kernel's rules with the
// rules it wants without decoding expressions.
package nft
