// Parser: recursive descent over the tokens, one token of lookahead.
//
// Contract: Parse accepts exactly the selectors Calico's parser accepts
// (within the limits in errors.go) and returns a *ParseError otherwise. The
// recursion depth is bounded by MaxNestingDepth (each level costs three stack
// frames), so hostile input cannot exhaust the stack, and the work done is
// linear in the input length apart from sorting set values and flattening
// nested groups (bounded by MaxNestingDepth).

package selector

import (
	"slices"
	"strings"
)

// Parse parses a selector. The empty string, or one made only of blanks,
// selects everything, like all().
func Parse(s string) (*Selector, error) {
	if len(s) > MaxSelectorLength {
		return nil, errorf(s, MaxSelectorLength, "selector too long: %d bytes (max %d)", len(s), MaxSelectorLength)
	}
	p := &parser{lx: lexer{src: s}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var root *node
	if p.tok.kind == tokEOF {
		root = &node{op: opAll}
	} else {
		var err *ParseError
		if root, err = p.parseOr(0); err != nil {
			return nil, err
		}
		if p.tok.kind != tokEOF {
			if p.tok.kind == tokRParen {
				return nil, p.fail("unexpected ')' without a matching '('")
			}
			return nil, p.fail("unexpected %s, expected '&&', '||' or end of selector", p.tok.describe())
		}
	}
	sel := newSelector(root)
	if len(sel.text) > MaxSelectorLength {
		// Keeps Parse(String()) valid for every selector Parse accepts.
		return nil, errorf(s, 0, "selector too long: canonical form is %d bytes (max %d)",
			len(sel.text), MaxSelectorLength)
	}
	return sel, nil
}

// MustParse is like Parse but panics if the selector cannot be parsed. It is
// meant for constants in code and tests.
func MustParse(s string) *Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

type parser struct {
	lx  lexer
	tok token // current token
}

func (p *parser) advance() *ParseError {
	tok, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = tok
	return nil
}

// fail reports a problem at the current token.
func (p *parser) fail(format string, args ...any) *ParseError {
	return errorf(p.lx.src, p.tok.pos, format, args...)
}

// parseOr parses and-expressions separated by "||". depth is the nesting
// level of the enclosing term.
func (p *parser) parseOr(depth int) (*node, *ParseError) {
	first, err := p.parseAnd(depth)
	if err != nil || p.tok.kind != tokOr {
		return first, err
	}
	operands := []*node{first}
	for p.tok.kind == tokOr {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.parseAnd(depth)
		if err != nil {
			return nil, err
		}
		operands = append(operands, n)
	}
	return combine(opOr, operands), nil
}

// parseAnd parses unary terms separated by "&&".
func (p *parser) parseAnd(depth int) (*node, *ParseError) {
	first, err := p.parseUnary(depth)
	if err != nil || p.tok.kind != tokAnd {
		return first, err
	}
	operands := []*node{first}
	for p.tok.kind == tokAnd {
		if err := p.advance(); err != nil {
			return nil, err
		}
		n, err := p.parseUnary(depth)
		if err != nil {
			return nil, err
		}
		operands = append(operands, n)
	}
	return combine(opAnd, operands), nil
}

func (p *parser) tooDeep() *ParseError {
	return p.fail("nesting too deep: more than %d levels of parentheses and '!'", MaxNestingDepth)
}

// parseUnary parses a term preceded by any number of '!'.
func (p *parser) parseUnary(depth int) (*node, *ParseError) {
	negated := false
	for p.tok.kind == tokNot {
		if depth++; depth > MaxNestingDepth {
			return nil, p.tooDeep()
		}
		negated = !negated
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	n, err := p.parseTerm(depth)
	if err != nil {
		return nil, err
	}
	if negated {
		n = negate(n)
	}
	return n, nil
}

var comparisonOps = map[tokKind]opKind{
	tokEq:         opEq,
	tokNe:         opNe,
	tokContains:   opContains,
	tokStartsWith: opStartsWith,
	tokEndsWith:   opEndsWith,
}

func (p *parser) parseTerm(depth int) (*node, *ParseError) {
	var n *node
	switch p.tok.kind {
	case tokHas:
		n = &node{op: opHas, key: p.tok.val}
	case tokAll:
		n = &node{op: opAll}
	case tokGlobal:
		n = &node{op: opGlobal}
	case tokLParen:
		if depth++; depth > MaxNestingDepth {
			return nil, p.tooDeep()
		}
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		inner, err := p.parseOr(depth)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.fail("expected ')' to match '(' at offset %d, found %s", open, p.tok.describe())
		}
		n = inner
	case tokLabel:
		return p.parseComparison()
	case tokEOF:
		return nil, p.fail("unexpected end of selector, expected a label key, 'has(', 'all()', 'global()', '!' or '('")
	default:
		return nil, p.fail("unexpected %s, expected a label key, 'has(', 'all()', 'global()', '!' or '('",
			p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, nil
}

// parseComparison parses "key <op> string" or "key [not] in {...}"; the
// current token is the key.
func (p *parser) parseComparison() (*node, *ParseError) {
	key := p.tok.val
	if err := p.advance(); err != nil {
		return nil, err
	}
	opTok := p.tok
	if opTok.kind == tokIn || opTok.kind == tokNotIn {
		return p.parseSet(key, opTok)
	}
	op, ok := comparisonOps[opTok.kind]
	if !ok {
		return nil, p.fail("expected an operator after label key %q (==, !=, in, not in, contains, starts with, ends with), found %s",
			abbreviate(key), p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokString {
		return nil, p.fail("expected a quoted string after %s, found %s", opTok.describe(), p.tok.describe())
	}
	n := &node{op: op, key: key, value: p.tok.val}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, nil
}

// parseSet parses the set literal after "in" / "not in" (the current token).
// As in Calico, a trailing comma is allowed: {"a", "b",}.
func (p *parser) parseSet(key string, opTok token) (*node, *ParseError) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLBrace {
		return nil, p.fail("expected '{' after %s, found %s", opTok.describe(), p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	var values []string
	for p.tok.kind == tokString {
		values = append(values, p.tok.val)
		if err := p.advance(); err != nil {
			return nil, err
		}
		if p.tok.kind != tokComma {
			if p.tok.kind != tokRBrace {
				return nil, p.fail("expected ',' or '}' in set, found %s", p.tok.describe())
			}
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if p.tok.kind != tokRBrace {
		return nil, p.fail("expected a quoted string or '}' in set, found %s", p.tok.describe())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n := &node{op: opIn, key: key, values: sortedUnique(values)}
	if opTok.kind == tokNotIn {
		n.op = opNotIn
	}
	if len(n.values) > smallSet {
		n.set = make(map[string]struct{}, len(n.values))
		for _, v := range n.values {
			n.set[v] = struct{}{}
		}
	}
	return n, nil
}

func sortedUnique(values []string) []string {
	slices.SortFunc(values, strings.Compare)
	return slices.Compact(values)
}
