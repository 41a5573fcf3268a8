// Tests of the canonical form and UniqueID.

package selector

import (
	"regexp"
	"testing"
)

// Each group lists equivalent spellings; the first is the canonical form.
var canonicalGroups = [][]string{
	{`all()`, ``, ` `, "\t", `all()`, ` all( ) `, `(all())`, `((all()))`, `!!all()`, `!(!all())`},
	{`global()`, `global( )`, `(global())`},
	{`!all()`, `!(all())`, `!!!all()`},
	{`a == "b"`, `a=="b"`, `a == 'b'`, ` a  ==  "b" `, `(a == "b")`, `((a=='b'))`, `!!a == "b"`, `!(!(a == "b"))`, `!(!a == "b")`},
	{`a == "'"`, `a == "'"`},
	{`a == '"'`, `a=='"'`},
	{`a != "b"`, `a!='b'`},
	{`a contains "b"`, `a contains'b'`, `a   contains   "b"`},
	{`a starts with "b"`, `a startswith "b"`, "a starts\twith 'b'", `a starts  with"b"`},
	{`a ends with "b"`, `a endswith "b"`, `a ends with 'b'`},
	{`a in {}`, `a in{}`, `a in { }`},
	{`a not in {}`, `a notin {}`, `a not in{}`},
	{`a in {"a", "b", "d"}`, `a in {"d", "a", "b"}`, `a in {'b','d','a',}`, `a in {"a","a","b","d","d"}`},
	{`a not in {'"', "'"}`, `a not in {"'", '"'}`, `a not in {'"', "'", '"'}`},
	{`has(a)`, `has( a )`, "has(\ta\t)", `(has(a))`},
	{`!has(a)`, `! has(a)`, `!(has(a))`, `!!!has(a)`, `!(!(!has(a)))`},
	{`has(a) && has(b)`, `has(a)&&has(b)`, `(has(a) && has(b))`, `(has(a)) && (has(b))`},
	{`has(a) && has(b) && has(c)`, `(has(a) && has(b)) && has(c)`, `has(a) && (has(b) && has(c))`, `((has(a) && (has(b))) && has(c))`},
	{`has(a) || has(b) || has(c)`, `(has(a) || has(b)) || has(c)`, `has(a) || (has(b) || has(c))`},
	{`has(a) || has(b) && has(c)`, `has(a) || (has(b) && has(c))`, `(has(a)) || ((has(b)) && has(c))`},
	{`has(a) && has(b) || has(c)`, `(has(a) && has(b)) || has(c)`},
	{`(has(a) || has(b)) && has(c)`, `((has(a) || has(b)) && has(c))`, `(has(a) || (has(b))) && has(c)`},
	{`!(has(a) || has(b))`, `!(has(a)||has(b))`, `!((has(a) || has(b)))`, `!!!(has(a) || has(b))`},
	{`!(has(a) && has(b)) || has(c)`, `(!(has(a) && has(b))) || has(c)`},
	{`!(has(b) || !has(a))`, `! (has( b)||! has(a ))`},
	{`!(a == "b" && !c != "d")`, `! (a == "b"&&! c != "d")`},
}

// Pairs that must stay distinct: they mean different things, or the
// canonical form deliberately keeps them apart.
var distinctPairs = [][2]string{
	{`a == "b"`, `a != "b"`},
	{`a == "b"`, `b == "a"`},
	{`a == "b"`, `a == "b "`},
	{`a == "b"`, `a contains "b"`},
	{`a starts with "b"`, `a ends with "b"`},
	{`a in {"b"}`, `a not in {"b"}`},
	{`a in {"b"}`, `a in {"b", "c"}`},
	{`a in {}`, `a not in {}`},
	{`a in {""}`, `a in {}`},
	{`has(a)`, `!has(a)`},
	{`has(a) && has(b) || has(c)`, `has(a) && (has(b) || has(c))`},
	{`has(a) || has(b) && has(c)`, `(has(a) || has(b)) && has(c)`},
	{`!(has(a) && has(b))`, `!has(a) && has(b)`},
	{`all()`, `global()`},
	{`all()`, `!all()`},
	{`has(a) && has(b)`, `has(b) && has(a)`}, // operand order is kept
	{`has(ab)`, `has(a) && has(b)`},
}

var uniqueIDPattern = regexp.MustCompile(`^[a-z2-7]{24}$`)

func TestCanonicalForm(t *testing.T) {
	for _, group := range canonicalGroups {
		want := group[0]
		var wantID string
		for _, s := range group {
			sel, err := Parse(s)
			if err != nil {
				t.Errorf("Parse(%q): %v", s, err)
				continue
			}
			if got := sel.String(); got != want {
				t.Errorf("Parse(%q).String() = %q, want %q", s, got, want)
			}
			if wantID == "" {
				wantID = sel.UniqueID()
			}
			if sel.UniqueID() != wantID {
				t.Errorf("UniqueID(%q) = %q, want %q (as for %q)", s, sel.UniqueID(), wantID, group[0])
			}
			if !uniqueIDPattern.MatchString(sel.UniqueID()) {
				t.Errorf("UniqueID(%q) = %q, not 24 chars of [a-z2-7]", s, sel.UniqueID())
			}
			checkRoundTrip(t, s)
		}
	}
}

func TestCanonicalDistinct(t *testing.T) {
	for _, p := range distinctPairs {
		a, b := MustParse(p[0]), MustParse(p[1])
		if a.String() == b.String() || a.UniqueID() == b.UniqueID() {
			t.Errorf("%q and %q should differ: %q/%q vs %q/%q", p[0], p[1], a, a.UniqueID(), b, b.UniqueID())
		}
	}
}

func TestUniqueIDStable(t *testing.T) {
	// Pinned so that IDs stored or rendered elsewhere (e.g. set names) do
	// not change silently between releases.
	for s, want := range map[string]string{
		`all()`:    "ewudctcv7zrelfokqc6bu6un",
		`a == "b"`: "ufrmcd6qovkmqg4wwefqcsxw",
	} {
		if got := MustParse(s).UniqueID(); got != want {
			t.Errorf("UniqueID(%q) = %q, want %q", s, got, want)
		}
	}
}

// checkRoundTrip verifies Parse(String()) reproduces String() and UniqueID().
func checkRoundTrip(t *testing.T, s string) {
	t.Helper()
	sel, err := Parse(s)
	if err != nil {
		return
	}
	again, err := Parse(sel.String())
	if err != nil {
		t.Errorf("re-parsing canonical form %q of %q: %v", sel, s, err)
		return
	}
	if again.String() != sel.String() || again.UniqueID() != sel.UniqueID() {
		t.Errorf("round trip of %q: %q -> %q", s, sel, again)
	}
}

func TestRoundTripAllTables(t *testing.T) {
	for _, tc := range evalCases {
		checkRoundTrip(t, tc.sel)
	}
	for _, tc := range errorCases {
		checkRoundTrip(t, tc.sel)
	}
}
