package render

import (
	"net/netip"
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// Intervals turns a set of networks into the sorted, non-overlapping
// intervals of an nftables interval set, one list per family. Overlapping
// networks are merged, since the kernel rejects overlapping elements;
// adjacent ones are not, so adding or removing a network that overlaps
// nothing changes exactly one element.
func Intervals(nets []netip.Prefix) (v4, v6 []nft.Interval) {
	var a4, a6 []nft.Interval
	for _, p := range nets {
		iv := nft.PrefixInterval(p)
		if p.Addr().Is4() {
			a4 = append(a4, iv)
		} else {
			a6 = append(a6, iv)
		}
	}
	return merge(a4), merge(a6)
}

func merge(ivs []nft.Interval) []nft.Interval {
	if len(ivs) == 0 {
		return nil
	}
	slices.SortFunc(ivs, func(a, b nft.Interval) int {
		if c := a.First.Compare(b.First); c != 0 {
			return c
		}
		return a.Last.Compare(b.Last)
	})
	out := ivs[:1]
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if !last.Last.Less(iv.First) { // overlaps
			if last.Last.Less(iv.Last) {
				last.Last = iv.Last
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}
