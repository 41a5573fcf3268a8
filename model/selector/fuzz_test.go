// Fuzz test: go test -run='^$' -fuzz=FuzzParse ./model/selector
//
// Properties checked for every input: Parse never panics; a failure is a
// *ParseError pointing inside the input; a success has a canonical form that
// re-parses to the same canonical form and ID, and both agree with a naive
// reference evaluator (refEval, below) on a family of label sets built from
// the selector's own keys and values; every match has the label Required
// names.
// The seed corpus lives in testdata/fuzz/FuzzParse.

package selector

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, tc := range evalCases {
		f.Add(tc.sel)
	}
	for _, tc := range errorCases {
		f.Add(tc.sel)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): error %T is not a *ParseError", s, err)
			}
			if pe.Pos < 0 || pe.Pos > len(s) || pe.Input != s || pe.Msg == "" {
				t.Fatalf("Parse(%q): bad error %+v", s, pe)
			}
			_ = pe.Error()
			return
		}
		canon := sel.String()
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) ok but its canonical form %q fails: %v", s, canon, err)
		}
		if again.String() != canon {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", s, canon, again.String())
		}
		if again.UniqueID() != sel.UniqueID() || !uniqueIDPattern.MatchString(sel.UniqueID()) {
			t.Fatalf("bad UniqueID for %q: %q vs %q", s, sel.UniqueID(), again.UniqueID())
		}
		if again.MatchesAll() != sel.MatchesAll() {
			t.Fatalf("MatchesAll differs for %q and %q", s, canon)
		}
		keys := sel.LabelKeys()
		if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) ||
			!slices.Equal(keys, again.LabelKeys()) {
			t.Fatalf("bad LabelKeys for %q: %q vs %q", s, keys, again.LabelKeys())
		}
		for _, l := range fuzzLabelSets(s, keys) {
			want := refEval(s, l)
			if got := sel.Evaluate(l); got != want {
				t.Fatalf("%q on %v: Evaluate = %v, reference evaluator = %v", s, l, got, want)
			}
			if got := again.Evaluate(l); got != want {
				t.Fatalf("canonical form %q of %q on %v: Evaluate = %v, reference evaluator = %v", canon, s, l, got, want)
			}
			if sel.MatchesAll() && !sel.Evaluate(l) {
				t.Fatalf("%q claims MatchesAll but rejects %v", s, l)
			}
			if key, values, ok := sel.Required(); ok && want {
				if v, has := l[key]; !has || !slices.Contains(values, v) {
					t.Fatalf("%q matches %v but Required says %s in %q", s, l, key, values)
				}
			}
		}
	})
}

// fuzzLabelSets builds label sets likely to exercise the selector: no labels,
// and every key set to each string literal of the selector (plus "" and a
// prefix/suffix of it), with some keys left out.
func fuzzLabelSets(s string, keys []string) []Map {
	values := []string{""}
	lx := lexer{src: s}
	for len(values) < 8 {
		tok, err := lx.next()
		if err != nil || tok.kind == tokEOF {
			break
		}
		if tok.kind == tokString {
			values = append(values, tok.val, "x"+tok.val+"y")
			if len(tok.val) > 1 {
				values = append(values, tok.val[1:])
			}
		}
	}
	sets := []Map{{}}
	for _, v := range values {
		all, odd := Map{}, Map{}
		for i, k := range keys {
			all[k] = v
			if i%2 == 1 {
				odd[k] = v
			}
		}
		sets = append(sets, all, odd)
	}
	return sets
}

// refEval is an independent, deliberately naive evaluator that works on the
// token stream of a valid selector, without any of the parser's
// normalisation. It is the oracle for Evaluate.
func refEval(s string, l Map) bool {
	lx := lexer{src: s}
	var toks []token
	for {
		tok, err := lx.next()
		if err != nil {
			panic(err)
		}
		toks = append(toks, tok)
		if tok.kind == tokEOF {
			break
		}
	}
	if toks[0].kind == tokEOF {
		return true
	}
	r := &refEvaluator{toks: toks, l: l}
	return r.or()
}

type refEvaluator struct {
	toks []token
	i    int
	l    Map
}

func (r *refEvaluator) take() token { r.i++; return r.toks[r.i-1] }

func (r *refEvaluator) or() bool {
	v := r.and()
	for r.toks[r.i].kind == tokOr {
		r.i++
		w := r.and()
		v = v || w
	}
	return v
}

func (r *refEvaluator) and() bool {
	v := r.unary()
	for r.toks[r.i].kind == tokAnd {
		r.i++
		w := r.unary()
		v = v && w
	}
	return v
}

func (r *refEvaluator) unary() bool {
	if r.toks[r.i].kind == tokNot {
		r.i++
		return !r.unary()
	}
	tok := r.take()
	switch tok.kind {
	case tokAll, tokGlobal:
		return true
	case tokHas:
		_, ok := r.l[tok.val]
		return ok
	case tokLParen:
		v := r.or()
		r.take() // ')'
		return v
	}
	v, ok := r.l[tok.val]
	op := r.take()
	if op.kind == tokIn || op.kind == tokNotIn {
		r.take() // '{'
		found := false
		for t := r.take(); t.kind != tokRBrace; t = r.take() {
			found = found || (t.kind == tokString && t.val == v)
		}
		if op.kind == tokIn {
			return ok && found
		}
		return !(ok && found)
	}
	val := r.take().val
	switch op.kind {
	case tokEq:
		return ok && v == val
	case tokNe:
		return !(ok && v == val)
	case tokContains:
		return ok && strings.Contains(v, val)
	case tokStartsWith:
		return ok && strings.HasPrefix(v, val)
	case tokEndsWith:
		return ok && strings.HasSuffix(v, val)
	}
	panic("refEval: unexpected token " + op.describe())
}
