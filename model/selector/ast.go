// Expression tree and its evaluation.
//
// Contract: trees are built only by the parser and never modified afterwards.
// They are normalised as they are built: '&&' never has an '&&' operand and
// '||' never has an '||' operand (nested groups are flattened), '!' never has
// a '!' operand (double negations cancel), and set values are sorted and
// de-duplicated. Evaluation visits each node at most once and allocates
// nothing.

package selector

import "strings"

// Labels is what a selector is evaluated against.
type Labels interface {
	// Get returns the value of the label with the given key and whether the
	// label is present.
	Get(key string) (value string, ok bool)
}

// Map adapts a plain map to Labels.
type Map map[string]string

// Get implements Labels.
func (m Map) Get(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// noLabels stands in for a nil Labels.
type noLabels struct{}

func (noLabels) Get(string) (string, bool) { return "", false }

type opKind uint8

const (
	opAll opKind = iota
	opGlobal
	opHas
	opEq
	opNe
	opContains
	opStartsWith
	opEndsWith
	opIn
	opNotIn
	opNot
	opAnd
	opOr
)

// smallSet is the largest set searched linearly; larger sets use a map.
const smallSet = 8

type node struct {
	op     opKind
	key    string              // label key, for every operator that has one
	value  string              // operand of ==, !=, contains, starts with, ends with
	values []string            // in / not in: sorted, unique
	set    map[string]struct{} // in / not in with more than smallSet values
	kids   []*node             // !: exactly one; &&, ||: two or more
}

func (n *node) inSet(v string) bool {
	if n.set != nil {
		_, ok := n.set[v]
		return ok
	}
	for _, s := range n.values {
		if s == v {
			return true
		}
	}
	return false
}

func (n *node) eval(l Labels) bool {
	switch n.op {
	case opAll, opGlobal:
		return true
	case opHas:
		_, ok := l.Get(n.key)
		return ok
	case opNot:
		return !n.kids[0].eval(l)
	case opAnd:
		for _, k := range n.kids {
			if !k.eval(l) {
				return false
			}
		}
		return true
	case opOr:
		for _, k := range n.kids {
			if k.eval(l) {
				return true
			}
		}
		return false
	}
	v, ok := l.Get(n.key)
	switch n.op {
	case opEq:
		return ok && v == n.value
	case opNe:
		return !ok || v != n.value
	case opContains:
		return ok && strings.Contains(v, n.value)
	case opStartsWith:
		return ok && strings.HasPrefix(v, n.value)
	case opEndsWith:
		return ok && strings.HasSuffix(v, n.value)
	case opIn:
		return ok && n.inSet(v)
	case opNotIn:
		return !ok || !n.inSet(v)
	}
	panic("selector: unknown operator")
}

// negate returns the negation of n, cancelling a double negation.
func negate(n *node) *node {
	if n.op == opNot {
		return n.kids[0]
	}
	return &node{op: opNot, kids: []*node{n}}
}

// combine joins operands with op (opAnd or opOr), splicing in the operands of
// any operand that is itself an op node so that equivalent groupings produce
// the same tree. A single operand is returned as is.
func combine(op opKind, operands []*node) *node {
	if len(operands) == 1 {
		return operands[0]
	}
	n := 0
	for _, o := range operands {
		if o.op == op {
			n += len(o.kids)
		} else {
			n++
		}
	}
	kids := make([]*node, 0, n)
	for _, o := range operands {
		if o.op == op {
			kids = append(kids, o.kids...)
		} else {
			kids = append(kids, o)
		}
	}
	return &node{op: op, kids: kids}
}

// collectKeys appends every label key the tree looks at.
func (n *node) collectKeys(keys []string) []string {
	if n.key != "" {
		keys = append(keys, n.key)
	}
	for _, k := range n.kids {
		keys = k.collectKeys(keys)
	}
	return keys
}
