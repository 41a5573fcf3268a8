package dataplane

import (
	"slices"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

// expectation is what the driver last wrote to one set.
type expectation uint8

const (
	notOurs      expectation = iota // no IP set of the desired state has this name
	written                         // the elements are known
	neverWritten                    // a new set: its first write may have been cut short
)

// lastWritten returns, for a set name, the elements the driver last wrote
// there: the kept ones for sets that changed since, and for the others
// their elements now, from src (see elementSource).
func (d *desired) lastWritten(src func(string) elements) func(name string) (elements, expectation) {
	kept := d.writtenElements()
	ours := map[string]bool{}
	pending := map[string]bool{}
	for id, s := range d.ipsets {
		n4, n6 := render.SetName(id, s.typ, nft.IPv4), render.SetName(id, s.typ, nft.IPv6)
		ours[n4], ours[n6] = true, true
		if s.dirty && s.written == nil {
			pending[n4], pending[n6] = true, true
		}
	}
	for id, s := range d.gone { // removed since the last write: still in the kernel
		if w := s.snapshot(); w != nil {
			kept[render.SetName(id, s.typ, nft.IPv4)], kept[render.SetName(id, s.typ, nft.IPv6)] = w[0], w[1]
		}
	}
	return func(name string) (elements, expectation) {
		switch {
		case pending[name]:
			return elements{}, neverWritten
		case ours[name]:
			if e, ok := kept[name]; ok {
				return e, written
			}
			return src(name), written
		}
		if e, ok := kept[name]; ok {
			return e, written
		}
		return elements{}, notOurs
	}
}

// drifted reports whether the table read back from the kernel differs from
// what the driver believed it held: chains (base chain settings and rule
// hashes) and sets (type and, per expect, elements). Rule handles are not
// compared (the driver does not learn them when it writes). A set the
// driver was creating for the first time may be there or not. A nil state
// is no table.
func drifted(believed, read *nft.TableState, expect func(string) (elements, expectation)) bool {
	if believed == nil || read == nil {
		return (believed == nil) != (read == nil)
	}
	if len(believed.Chains) != len(read.Chains) {
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
		if r == nil || r.Type != b.Type || !slices.Equal(r.Ports, b.Ports) {
			return true
		}
		e, exp := expect(name)
		if exp == written && (!slices.Equal(e.intervals, r.Elements) || !slices.Equal(e.tuples, r.Tuples)) {
			return true
		}
	}
	for name := range read.Sets {
		if _, ok := believed.Sets[name]; ok {
			continue
		}
		if _, exp := expect(name); exp != neverWritten {
			return true
		}
	}
	return false
}
