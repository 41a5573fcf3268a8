// Tests of syntax errors: each bad selector must fail with a *ParseError at
// the right offset and a specific message.

package selector

import (
	"errors"
	"strings"
	"testing"
)

var errorCases = []struct {
	sel string
	pos int
	msg string // substring of ParseError.Msg
}{
	// Operands of comparisons.
	{`a == `, 5, "expected a quoted string after '==', found end of selector"},
	{`b == b`, 5, `expected a quoted string after '==', found label key "b"`},
	{`b != b`, 5, `expected a quoted string after '!='`},
	{`b contains b`, 11, `expected a quoted string after 'contains'`},
	{`b starts with b`, 14, `expected a quoted string after 'starts with'`},
	{`b ends with (`, 12, `expected a quoted string after 'ends with', found '('`},
	{`'b1' == b`, 0, `unexpected string "b1"`},
	{`a == "b" "c"`, 9, `unexpected string "c", expected '&&', '||' or end of selector`},

	// Operators.
	{`b`, 1, `expected an operator after label key "b"`},
	{`a b`, 2, `unknown operator "b"`},
	{`a `, 2, `found end of selector`},
	{`a = "b"`, 2, "expected '==' but found a single '='"},
	{`a === "b"`, 4, "expected '==' but found a single '='"},
	{`a inx {}`, 2, `unknown operator "inx"`},
	{`a containsx "b"`, 2, `unknown operator "containsx"`},
	{`a starts "b"`, 2, `unknown operator "starts"`},
	{`a not "b"`, 2, `unknown operator "not"`},
	{`a has(b)`, 2, `unknown operator "has"`},
	{`a % "b"`, 2, `unexpected character '%', expected an operator`},
	{`a ( "b"`, 2, `expected an operator after label key "a"`},
	{`a !! "b"`, 2, `found '!'`},

	// Sets.
	{`foo in ""`, 7, `expected '{' after 'in', found string ""`},
	{`foo not in "x"`, 11, `expected '{' after 'not in'`},
	{`foo in`, 6, `expected '{' after 'in', found end of selector`},
	{`foo in {"", ||`, 12, `expected a quoted string or '}' in set, found '||'`},
	{`foo in {"a" "b"}`, 12, `expected ',' or '}' in set, found string "b"`},
	{`foo in {,}`, 8, `expected a quoted string or '}' in set, found ','`},
	{`foo in {"a",,}`, 12, `expected a quoted string or '}' in set, found ','`},
	{`foo in {"a"`, 11, `expected ',' or '}' in set, found end of selector`},
	{`foo in {a}`, 8, `found label key "a"`},

	// Strings.
	{`"FOO`, 0, `unterminated string: no closing "`},
	{`"FOO'`, 0, `unterminated string`},
	{`'FOO`, 0, `unterminated string: no closing '`},
	{`a == 'b" && c == "d'`, 5, ``}, // fine lexically, then ...
	{`a == "b`, 5, `unterminated string`},
	{`a in {"x", 'y}`, 11, `unterminated string`},

	// Boolean operators and parentheses.
	{`!`, 1, `unexpected end of selector, expected a label key`},
	{`!!`, 2, `unexpected end of selector`},
	{`foo == "bar" &`, 13, "expected '&&' but found a single '&'"},
	{`foo == "bar" |`, 13, "expected '||' but found a single '|'"},
	{`foo == "bar" & & x == "y"`, 13, "expected '&&'"},
	{`foo != ||`, 7, `expected a quoted string after '!=', found '||'`},
	{`has(foo) &&`, 11, `unexpected end of selector`},
	{`has(foo) || `, 12, `unexpected end of selector`},
	{`&& has(foo)`, 0, `unexpected '&&'`},
	{`has(a) && && has(b)`, 10, `unexpected '&&'`},
	{`has(a) has(b)`, 7, `unexpected 'has(b)', expected '&&', '||' or end of selector`},
	{`(`, 1, `unexpected end of selector`},
	{`(a == "foo"`, 11, `expected ')' to match '(' at offset 0, found end of selector`},
	{`((has(a))`, 9, `expected ')' to match '(' at offset 0`},
	{`)`, 0, `unexpected ')'`},
	{`has(a))`, 6, `unexpected ')' without a matching '('`},
	{`()`, 1, `unexpected ')'`},
	{`!()`, 2, `unexpected ')'`},
	{`{}`, 0, `unexpected '{'`},
	{`,`, 0, `unexpected ','`},
	{`== "a"`, 0, `unexpected '=='`},
	{`!= "a"`, 0, `unexpected '!='`},

	// has(), all(), global().
	{`has()`, 4, `unexpected character ')', expected a label key after 'has('`},
	{`has(`, 4, `expected a label key after 'has(', found end of selector`},
	{`has( "a")`, 5, `unexpected character '"', expected a label key after 'has('`},
	{`has(a`, 5, `expected ')' to close 'has(a'`},
	{`has(a b)`, 6, `expected ')' to close 'has(a'`},
	{`has (a)`, 4, `expected an operator after label key "has"`},
	{`all(x)`, 4, `expected ')' after 'all('`},
	{`all(`, 4, `expected ')' after 'all('`},
	{`all`, 3, `expected an operator after label key "all"`},
	{`global(x)`, 7, `expected ')' after 'global('`},
	{`all() == "x"`, 6, `unexpected '=='`},

	// Characters that are not allowed anywhere.
	{`%`, 0, `unexpected character '%', expected a label key`},
	{`a == "b" && %`, 12, `unexpected character '%'`},
	{`a == "b" || %`, 12, `unexpected character '%'`},
	{"a\n== \"b\"", 1, `unexpected character '\n' (only spaces and tabs may separate tokens)`},
	{"\na == \"b\"", 0, `only spaces and tabs`},
	{"a == \"b\"\r", 8, `unexpected character '\r'`},
	{`ключ == "x"`, 0, `unexpected character 'к'`},
	{"a\xff", 1, `unexpected character byte 0xff`},
	{"a == \"b\" \x00", 9, `unexpected character '\x00'`},
	{`a:b == "x"`, 1, `unexpected character ':', expected an operator`},
	{`a@b == "x"`, 1, `unexpected character '@'`},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		sel, err := Parse(tc.sel)
		if tc.msg == "" {
			// Placeholder rows document inputs that look wrong but are valid.
			if err != nil {
				t.Errorf("Parse(%q): unexpected error %v", tc.sel, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("Parse(%q) = %q, want error", tc.sel, sel)
			continue
		}
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %T is not a *ParseError", tc.sel, err)
			continue
		}
		if pe.Pos != tc.pos || !strings.Contains(pe.Msg, tc.msg) || pe.Input != tc.sel {
			t.Errorf("Parse(%q):\n got  offset %d %q\n want offset %d containing %q", tc.sel, pe.Pos, pe.Msg, tc.pos, tc.msg)
		}
		if MustParsePanics(tc.sel) == nil {
			t.Errorf("MustParse(%q) did not panic", tc.sel)
		}
	}
}

func MustParsePanics(s string) (v any) {
	defer func() { v = recover() }()
	MustParse(s)
	return nil
}

func TestErrorString(t *testing.T) {
	_, err := Parse(`a == `)
	if got, want := err.Error(), `selector "a == " at offset 5: expected a quoted string after '==', found end of selector`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	long := strings.Repeat(`has(a) && `, 50) + `%`
	_, err = Parse(long)
	msg := err.Error()
	if len(msg) > 300 || !strings.Contains(msg, "at offset 500") || !strings.Contains(msg, `&& %"`) {
		t.Errorf("long input error not abbreviated around the offset: %q", msg)
	}
}
