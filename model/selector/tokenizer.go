// Tokenizer: turns selector text into tokens on demand.
//
// Contract: the lexer makes one left-to-right pass over the input, never
// backtracks more than the length of a keyword, and does not allocate except
// for errors. Token values are substrings of the input. Which words are
// operators depends on one piece of context, exactly as in Calico: right
// after a label key, "contains", "starts with", "ends with", "not in" and
// "in" are operators (ending at a word boundary); anywhere else a run of key
// characters is a label key, unless it is "has(", "all(" or "global(".

package selector

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokNone tokKind = iota // no token yet (start of input)
	tokEOF
	tokLabel  // val: the key
	tokString // val: the contents, without quotes
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokComma
	tokEq
	tokNe
	tokNot
	tokAnd
	tokOr
	tokIn
	tokNotIn
	tokContains
	tokStartsWith
	tokEndsWith
	tokHas // val: the key
	tokAll
	tokGlobal
)

var tokNames = [...]string{
	tokNone:       "nothing",
	tokEOF:        "end of selector",
	tokLParen:     "'('",
	tokRParen:     "')'",
	tokLBrace:     "'{'",
	tokRBrace:     "'}'",
	tokComma:      "','",
	tokEq:         "'=='",
	tokNe:         "'!='",
	tokNot:        "'!'",
	tokAnd:        "'&&'",
	tokOr:         "'||'",
	tokIn:         "'in'",
	tokNotIn:      "'not in'",
	tokContains:   "'contains'",
	tokStartsWith: "'starts with'",
	tokEndsWith:   "'ends with'",
	tokAll:        "'all()'",
	tokGlobal:     "'global()'",
}

type token struct {
	kind tokKind
	pos  int // byte offset of the token's first character
	val  string
}

// maxShownValue bounds how much of a key or string a message quotes.
const maxShownValue = 40

func abbreviate(s string) string {
	if len(s) <= maxShownValue {
		return s
	}
	return s[:maxShownValue] + "..."
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokLabel:
		return fmt.Sprintf("label key %q", abbreviate(t.val))
	case tokString:
		return fmt.Sprintf("string %q", abbreviate(t.val))
	case tokHas:
		return fmt.Sprintf("'has(%s)'", abbreviate(t.val))
	}
	return tokNames[t.kind]
}

type lexer struct {
	src  string
	pos  int
	prev tokKind // kind of the last token returned
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '_' || c == '.' || c == '/' || c == '-'
}

func (lx *lexer) skipSpace() {
	for lx.pos < len(lx.src) && (lx.src[lx.pos] == ' ' || lx.src[lx.pos] == '\t') {
		lx.pos++
	}
}

func (lx *lexer) fail(pos int, format string, args ...any) *ParseError {
	return errorf(lx.src, pos, format, args...)
}

// next returns the next token, or an error if the text at the current
// position is not a valid token.
func (lx *lexer) next() (token, *ParseError) {
	tok, err := lx.scan()
	if err == nil {
		lx.prev = tok.kind
	}
	return tok, err
}

func (lx *lexer) scan() (token, *ParseError) {
	lx.skipSpace()
	start := lx.pos
	if start >= len(lx.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	rest := lx.src[start:]
	simple := func(k tokKind, n int) (token, *ParseError) {
		lx.pos += n
		return token{kind: k, pos: start}, nil
	}
	switch c := rest[0]; c {
	case '(':
		return simple(tokLParen, 1)
	case ')':
		return simple(tokRParen, 1)
	case '{':
		return simple(tokLBrace, 1)
	case '}':
		return simple(tokRBrace, 1)
	case ',':
		return simple(tokComma, 1)
	case '"', '\'':
		end := strings.IndexByte(rest[1:], c)
		if end < 0 {
			return token{}, lx.fail(start, "unterminated string: no closing %c", c)
		}
		lx.pos += end + 2
		return token{kind: tokString, pos: start, val: rest[1 : end+1]}, nil
	case '=':
		if strings.HasPrefix(rest, "==") {
			return simple(tokEq, 2)
		}
		return token{}, lx.fail(start, "expected '==' but found a single '='")
	case '!':
		if strings.HasPrefix(rest, "!=") {
			return simple(tokNe, 2)
		}
		return simple(tokNot, 1)
	case '&':
		if strings.HasPrefix(rest, "&&") {
			return simple(tokAnd, 2)
		}
		return token{}, lx.fail(start, "expected '&&' but found a single '&'")
	case '|':
		if strings.HasPrefix(rest, "||") {
			return simple(tokOr, 2)
		}
		return token{}, lx.fail(start, "expected '||' but found a single '|'")
	}
	if lx.prev == tokLabel {
		return lx.scanOperator(start, rest)
	}
	switch {
	case strings.HasPrefix(rest, "has("):
		lx.pos += len("has(")
		lx.skipSpace()
		key, err := lx.scanKey("a label key after 'has('")
		if err != nil {
			return token{}, err
		}
		lx.skipSpace()
		if lx.pos >= len(lx.src) || lx.src[lx.pos] != ')' {
			return token{}, lx.fail(lx.pos, "expected ')' to close 'has(%s'", abbreviate(key))
		}
		lx.pos++
		return token{kind: tokHas, pos: start, val: key}, nil
	case strings.HasPrefix(rest, "all("):
		return lx.scanEmptyCall(start, "all(", tokAll)
	case strings.HasPrefix(rest, "global("):
		return lx.scanEmptyCall(start, "global(", tokGlobal)
	}
	key, err := lx.scanKey("a label key, 'has(', 'all()', 'global()', '!' or '('")
	if err != nil {
		return token{}, err
	}
	return token{kind: tokLabel, pos: start, val: key}, nil
}

// scanEmptyCall finishes "all(" or "global(": only blanks may precede ')'.
func (lx *lexer) scanEmptyCall(start int, prefix string, k tokKind) (token, *ParseError) {
	lx.pos += len(prefix)
	lx.skipSpace()
	if lx.pos >= len(lx.src) || lx.src[lx.pos] != ')' {
		return token{}, lx.fail(lx.pos, "expected ')' after '%s'", prefix)
	}
	lx.pos++
	return token{kind: k, pos: start}, nil
}

// scanKey consumes a label key at the current position. want describes what
// was expected, for the error when there is no key here.
func (lx *lexer) scanKey(want string) (string, *ParseError) {
	start := lx.pos
	end := start
	for end < len(lx.src) && isKeyChar(lx.src[end]) {
		end++
	}
	if end == start {
		return "", lx.unexpectedChar(start, want)
	}
	if end-start > MaxLabelKeyLength {
		return "", lx.fail(start, "label key too long: %d bytes (max %d)", end-start, MaxLabelKeyLength)
	}
	lx.pos = end
	return lx.src[start:end], nil
}

func (lx *lexer) unexpectedChar(pos int, want string) *ParseError {
	if pos >= len(lx.src) {
		return lx.fail(pos, "expected %s, found end of selector", want)
	}
	r, size := utf8.DecodeRuneInString(lx.src[pos:])
	ch := fmt.Sprintf("%q", r)
	if r == utf8.RuneError && size <= 1 {
		ch = fmt.Sprintf("byte 0x%02x", lx.src[pos])
	}
	hint := ""
	if r == '\n' || r == '\r' || r == '\v' || r == '\f' {
		hint = " (only spaces and tabs may separate tokens)"
	}
	return lx.fail(pos, "unexpected character %s%s, expected %s", ch, hint, want)
}

// operatorWords lists the word operators that may follow a label key, in the
// order Calico tries them.
var operatorWords = []struct {
	words []string
	kind  tokKind
}{
	{[]string{"contains"}, tokContains},
	{[]string{"starts", "with"}, tokStartsWith},
	{[]string{"ends", "with"}, tokEndsWith},
	{[]string{"not", "in"}, tokNotIn},
	{[]string{"in"}, tokIn},
}

// scanOperator recognises a word operator directly after a label key.
func (lx *lexer) scanOperator(start int, rest string) (token, *ParseError) {
	for _, op := range operatorWords {
		if n, ok := matchWords(rest, op.words); ok {
			lx.pos += n
			return token{kind: op.kind, pos: start}, nil
		}
	}
	end := 0
	for end < len(rest) && end < maxShownValue && isKeyChar(rest[end]) {
		end++
	}
	if end == 0 {
		return token{}, lx.unexpectedChar(start, "an operator")
	}
	return token{}, lx.fail(start, "unknown operator %q: expected ==, !=, in, not in, contains, starts with or ends with",
		rest[:end])
}

// matchWords reports whether s starts with the given words, separated by
// optional blanks, the last one ending at a word boundary (end of input or a
// character that cannot be part of a key). It returns the length matched.
func matchWords(s string, words []string) (int, bool) {
	i := 0
	for n, w := range words {
		if n > 0 {
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
		}
		if !strings.HasPrefix(s[i:], w) {
			return 0, false
		}
		i += len(w)
	}
	if i < len(s) && isKeyChar(s[i]) {
		return 0, false
	}
	return i, true
}
