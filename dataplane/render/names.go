package render

import (
	"crypto/sha256"
	"encoding/base32"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// Base chain names.
const (
	ChainRawPrerouting = "raw-prerouting"
	ChainRawOutput     = "raw-output"
	ChainFilterInput   = "filter-input"
	ChainFilterForward = "filter-forward"
	ChainFilterOutput  = "filter-output"
)

// maxChainName is the longest chain name the kernel accepts
// (NFT_CHAIN_MAXNAMELEN - 1).
const maxChainName = 255

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// chainName joins prefix and an object name. Names too long for the kernel
// are cut and suffixed with a hash of the whole name, so they stay unique.
func chainName(prefix, name string) string {
	n := prefix + name
	if len(n) <= maxChainName {
		return n
	}
	sum := sha256.Sum256([]byte(name))
	h := b32.EncodeToString(sum[:])[:16]
	return n[:maxChainName-17] + "-" + h
}

// HEPUntrackedChain is the chain of untracked policy for packets arriving
// on (in) or leaving by (out) a host endpoint's interface.
func HEPUntrackedChain(hep string, in bool) string {
	if in {
		return chainName("hep-untracked-in-", hep)
	}
	return chainName("hep-untracked-out-", hep)
}

// PolicyUntrackedChain is the chain of an untracked policy's ingress (in) or
// egress rules.
func PolicyUntrackedChain(policy string, in bool) string {
	if in {
		return chainName("pol-untracked-in-", policy)
	}
	return chainName("pol-untracked-out-", policy)
}

// SetName is the name of the kernel set holding the members of IP set id
// of one family.
func SetName(id string, f nft.Family) string {
	if f == nft.IPv6 {
		return "s6-" + id
	}
	return "s4-" + id
}

// SetType returns the key type of family f's sets.
func SetType(f nft.Family) nft.SetType {
	if f == nft.IPv6 {
		return nft.SetIPv6
	}
	return nft.SetIPv4
}
