// The Selector type.
//
// Contract: everything a Selector reports (canonical text, ID, keys) is
// computed once by Parse; afterwards a Selector is read-only, so any number
// of goroutines may use it at once. The zero Selector behaves like all().

package selector

import (
	"slices"
	"strings"
)

// Selector is a parsed label selector. Obtain one from Parse or MustParse.
type Selector struct {
	root *node
	text string   // canonical form
	id   string   // UniqueID
	keys []string // sorted, unique label keys
	// req, reqKey and reqValues: see Required.
	req       bool
	reqKey    string
	reqValues []string
}

var allSelector = newSelector(&node{op: opAll})

func newSelector(root *node) *Selector {
	text := root.canonical()
	keys := root.collectKeys(nil)
	slices.SortFunc(keys, strings.Compare)
	keys = slices.Clip(slices.Compact(keys))
	sel := &Selector{root: root, text: text, id: uniqueID(text), keys: keys}
	if r := required(root); r != nil {
		sel.req, sel.reqKey, sel.reqValues = true, r.key, r.values
		if r.op == opEq {
			sel.reqValues = []string{r.value}
		}
	}
	return sel
}

// required returns the == or in comparison that every match satisfies: the
// root, or the first such operand of a root &&; nil if there is none.
func required(n *node) *node {
	switch n.op {
	case opEq, opIn:
		return n
	case opAnd:
		for _, k := range n.kids {
			if k.op == opEq || k.op == opIn {
				return k
			}
		}
	}
	return nil
}

func (s *Selector) parsed() *Selector {
	if s.root == nil {
		return allSelector
	}
	return s
}

// Evaluate reports whether the labels match the selector. A nil l is treated
// as an empty label set. It does not allocate.
func (s *Selector) Evaluate(l Labels) bool {
	if s.root == nil {
		return true
	}
	if l == nil {
		l = noLabels{}
	}
	return s.root.eval(l)
}

// String returns the canonical form of the selector: one space around each
// operator, set values sorted, de-duplicated and separated by ", ", values in
// double quotes unless they contain one, parentheses only where precedence
// needs them, "!!" pairs dropped and nested runs of '&&' (or '||') merged;
// operand order is kept. Spellings that differ only in those respects give
// the same string. The empty selector renders as "all()".
func (s *Selector) String() string { return s.parsed().text }

// UniqueID returns a stable 24-character identifier of the canonical form,
// made only of the characters [a-z2-7]: the first 120 bits of its SHA-256
// digest in lowercase base32. Selectors with equal String()s have equal IDs.
func (s *Selector) UniqueID() string { return s.parsed().id }

// MatchesAll reports whether the selector is, after normalisation, just
// all() or global() (the empty selector included). It is a syntactic test: a
// selector such as "all() || has(a)" also matches everything but reports
// false.
func (s *Selector) MatchesAll() bool {
	op := s.parsed().root.op
	return op == opAll || op == opGlobal
}

// Required reports a label that every match carries with one of a few
// values: if ok, labels match the selector only if they have key with one
// of values (sorted, unique; the caller must not modify them). It is
// syntactic: the selector is, or is a conjunction with, key == value or key
// in {values}. Callers use it to look at fewer candidates; Evaluate still
// decides.
func (s *Selector) Required() (key string, values []string, ok bool) {
	p := s.parsed()
	return p.reqKey, p.reqValues, p.req
}

// LabelKeys returns the label keys the selector looks at, sorted and without
// repeats. The caller owns the returned slice.
func (s *Selector) LabelKeys() []string { return slices.Clone(s.parsed().keys) }
