package dataplane

import (
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// drifted reports whether the table read back from the kernel differs from
// what the driver believed it held: chains (base chain settings and rule
// hashes) and sets (type and elements). Rule handles are not compared (the
// driver does not learn them when it writes). A nil state is no table.
func drifted(believed, read *nft.TableState) bool {
	if believed == nil || read == nil {
		return (believed == nil) != (read == nil)
	}
	if len(believed.Chains) != len(read.Chains) || len(believed.Sets) != len(read.Sets) {
		return true
	}
	for name, b := range believed.Chains {
		r := read.Chains[name]
		if r == nil || !sameBase(b.Base, r.Base) || len(b.Rules) != len(r.Rules) {
			return true
		}
		for i := range b.Rules {
			if b.Rules[i].Hash != r.Rules[i].Hash {
				return true
			}
		}
	}
	for name, b := range believed.Sets {
		r := read.Sets[name]
		if r == nil || r.Type != b.Type || !slices.Equal(b.Elements, r.Elements) || !slices.Equal(b.Tuples, r.Tuples) {
			return true
		}
	}
	return false
}
