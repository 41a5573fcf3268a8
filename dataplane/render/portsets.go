package render

import (
	"crypto/sha256"
	"slices"
	"strings"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// Port lists of policy rules live in named port sets, shared by every rule
// with the same list, instead of an anonymous set per rule. The kernel
// handles an anonymous set in a transaction with walks over the table's
// sets and over the whole transaction, so a cold start with thousands of
// them spent over a second of kernel time there (bench-scale: 2,787
// anonymous sets, 1,104 distinct lists). A port set is named after its
// content and is constant, so it never changes: a rule whose ports change
// uses another set, and a set no rule uses any more is deleted. Failsafe
// rules keep their anonymous sets: each is complete in itself, whatever
// else the table holds.

// portSetPrefix starts the name of every port set.
const portSetPrefix = "ports-"

// portMatch matches field against the ranges (none of them if neg), sorted
// and merged: a compare or range for one, a lookup in the port set of the
// list (see PortSetName) for several.
func portMatch(field nft.PortField, ranges []nft.PortRange, neg bool) nft.Ports {
	ranges = mergePorts(ranges)
	p := nft.Ports{Field: field, Ranges: ranges, Neg: neg}
	if len(ranges) > 1 {
		p.Set = PortSetName(ranges)
	}
	return p
}

// mergePorts returns the ranges sorted, with overlapping and adjacent ones
// merged.
func mergePorts(rs []nft.PortRange) []nft.PortRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b nft.PortRange) int { return int(a.First) - int(b.First) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && uint32(r.First) <= uint32(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// PortSetName is the name of the port set holding ranges (sorted and
// merged): derived from the content, so that equal lists share a set.
func PortSetName(ranges []nft.PortRange) string {
	items := make([]string, len(ranges))
	for i, r := range ranges {
		items[i] = r.String()
	}
	sum := sha256.Sum256([]byte(strings.Join(items, ",")))
	return portSetPrefix + strings.ToLower(b32.EncodeToString(sum[:10]))
}

// portSets adds to rs the port sets its chains' rules look up.
func portSets(rs *Ruleset) {
	for _, c := range rs.Chains {
		for _, r := range c.Rules {
			for _, e := range r.Exprs {
				if p, ok := e.(nft.Ports); ok && p.Set != "" {
					if _, ok := rs.Sets[p.Set]; !ok {
						rs.Sets[p.Set] = nft.Set{Name: p.Set, Type: nft.SetPorts, Ports: p.Ranges}
					}
				}
			}
		}
	}
}
