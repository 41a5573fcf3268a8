package render

import (
	"crypto/sha256"
	"encoding/base32"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// Base chain names.
const (
	ChainRawPrerouting    = "raw-prerouting"
	ChainRawOutput        = "raw-output"
	ChainManglePrerouting = "mangle-prerouting"
	ChainFilterInput      = "filter-input"
	ChainFilterForward    = "filter-forward"
	ChainFilterOutput     = "filter-output"
)

// Failsafe chains: the raw variants also accept replies from failsafe
// ports (there is no conntrack yet at the raw priority); the filter
// variants only the failsafe ports themselves (conntrack accepts replies).
const (
	ChainFailsafeRawIn  = "failsafe-raw-in"
	ChainFailsafeRawOut = "failsafe-raw-out"
	ChainFailsafeIn     = "failsafe-in"
	ChainFailsafeOut    = "failsafe-out"
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

func dirName(in bool) string {
	if in {
		return "in"
	}
	return "out"
}

// HEPUntrackedChain is the chain of untracked policy for packets arriving
// on (in) or leaving by (out) a host endpoint's interface.
func HEPUntrackedChain(hep string, in bool) string {
	return chainName("hep-untracked-"+dirName(in)+"-", hep)
}

// HEPPreDNATChain is the chain of pre-DNAT policy for packets arriving on a
// host endpoint's interface.
func HEPPreDNATChain(hep string) string { return chainName("hep-prednat-in-", hep) }

// HEPChain is the chain of normal policy, profiles and default deny for
// packets to (in) or from (out) the host on a host endpoint's interface.
func HEPChain(hep string, in bool) string { return chainName("hep-"+dirName(in)+"-", hep) }

// HEPPolicyChain is the tier of normal policies inside HEPChain.
func HEPPolicyChain(hep string, in bool) string {
	return chainName("hep-pol-"+dirName(in)+"-", hep)
}

// HEPForwardChain is the chain of applyOnForward policy for forwarded
// packets arriving on (in) or leaving by (out) a host endpoint's interface.
func HEPForwardChain(hep string, in bool) string {
	return chainName("hep-fwd-"+dirName(in)+"-", hep)
}

// PolicyUntrackedChain is the chain of an untracked policy's ingress (in) or
// egress rules.
func PolicyUntrackedChain(policy string, in bool) string {
	return chainName("pol-untracked-"+dirName(in)+"-", policy)
}

// PolicyPreDNATChain is the chain of a pre-DNAT policy's ingress rules.
func PolicyPreDNATChain(policy string) string { return chainName("pol-prednat-in-", policy) }

// PolicyChain is the chain of a normal policy's ingress (in) or egress
// rules, shared by host and forwarded traffic.
func PolicyChain(policy string, in bool) string { return chainName("pol-"+dirName(in)+"-", policy) }

// ProfileChain is the chain of a profile's ingress (in) or egress rules.
func ProfileChain(profile string, in bool) string {
	return chainName("prof-"+dirName(in)+"-", profile)
}

// SetName is the name of the kernel set holding the members of IP set id
// of one family: s4-/s6- for networks, n4-/n6- for named ports.
func SetName(id string, t proto.IPSetType, f nft.Family) string {
	p := "s"
	if t == proto.IPSetType_IP_SET_NAMED_PORTS {
		p = "n"
	}
	if f == nft.IPv6 {
		return p + "6-" + id
	}
	return p + "4-" + id
}

// SetType returns the key type of the kernel sets of an IP set of type t
// and family f.
func SetType(t proto.IPSetType, f nft.Family) nft.SetType {
	switch {
	case t == proto.IPSetType_IP_SET_NAMED_PORTS && f == nft.IPv6:
		return nft.SetIPv6ProtoPort
	case t == proto.IPSetType_IP_SET_NAMED_PORTS:
		return nft.SetIPv4ProtoPort
	case f == nft.IPv6:
		return nft.SetIPv6
	}
	return nft.SetIPv4
}
