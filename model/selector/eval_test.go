// Tests of what selectors match: every operator, both quote styles,
// precedence, negation, missing labels, sets and blanks.

package selector

import (
	"fmt"
	"slices"
	"testing"
)

type evalCase struct {
	sel   string
	match []Map
	miss  []Map
}

var evalCases = []evalCase{
	// Equality, both quote styles.
	{`a == "b"`, []Map{{"a": "b"}, {"a": "b", "c": "d"}}, []Map{{}, {"a": "c"}, {"c": "b"}, {"a": ""}}},
	{`a == 'b'`, []Map{{"a": "b"}}, []Map{{}, {"a": "B"}}},
	{`a == ""`, []Map{{"a": ""}}, []Map{{}, {"a": "x"}}},
	{`a == "'"`, []Map{{"a": "'"}}, []Map{{"a": `"`}}},
	{`a == '"'`, []Map{{"a": `"`}}, []Map{{"a": "'"}}},
	{"a == \"x y\tz\"", []Map{{"a": "x y\tz"}}, []Map{{"a": "x y z"}}},

	// Inequality: a missing label is "not equal".
	{`a != "b"`, []Map{{}, {"a": "c"}, {"a": ""}, {"b": "b"}}, []Map{{"a": "b"}}},
	{`a != ''`, []Map{{}, {"a": "x"}}, []Map{{"a": ""}}},

	// Substring operators: a missing label never matches.
	{`a contains "b"`, []Map{{"a": "b"}, {"a": "abc"}, {"a": "bbb"}}, []Map{{}, {"a": "a"}, {"b": "b"}}},
	{`a contains ""`, []Map{{"a": ""}, {"a": "x"}}, []Map{{}}},
	{`a starts with "ab"`, []Map{{"a": "ab"}, {"a": "abc"}}, []Map{{}, {"a": "cab"}, {"a": "a"}}},
	{`a starts with ""`, []Map{{"a": ""}}, []Map{{}}},
	{`a ends with "yz"`, []Map{{"a": "yz"}, {"a": "xyz"}}, []Map{{}, {"a": "yza"}, {"a": "z"}}},
	{`a ends with ''`, []Map{{"a": "q"}}, []Map{{"b": "q"}}},
	{`a startswith "x"`, []Map{{"a": "xy"}}, []Map{{"a": "yx"}}},
	{`a endswith "x"`, []Map{{"a": "yx"}}, []Map{{"a": "xy"}}},

	// Sets.
	{`a in {"x", "y"}`, []Map{{"a": "x"}, {"a": "y"}}, []Map{{}, {"a": "z"}, {"a": ""}, {"b": "x"}}},
	{`a in {'x',"y",}`, []Map{{"a": "x"}, {"a": "y"}}, []Map{{"a": "z"}}},
	{`a in {"'", '"', "c"}`, []Map{{"a": "'"}, {"a": `"`}, {"a": "c"}}, []Map{{}, {"a": "e"}}},
	{`a in {}`, nil, []Map{{}, {"a": ""}, {"a": "x"}}},
	{`a not in {"x", "y"}`, []Map{{}, {"a": "z"}, {"b": "x"}}, []Map{{"a": "x"}, {"a": "y"}}},
	{`a not in {}`, []Map{{}, {"a": ""}, {"a": "x"}}, nil},
	{`a notin {"x"}`, []Map{{"a": "y"}}, []Map{{"a": "x"}}},
	{`a in {"1","2","3","4","5","6","7","8","9","10","11"}`, // map-backed
		[]Map{{"a": "1"}, {"a": "11"}, {"a": "5"}}, []Map{{}, {"a": "12"}, {"a": "0"}}},
	{`a not in {"1","2","3","4","5","6","7","8","9","10","11"}`,
		[]Map{{}, {"a": "12"}}, []Map{{"a": "1"}, {"a": "11"}}},

	// has, all, global, empty.
	{`has(a)`, []Map{{"a": ""}, {"a": "x"}}, []Map{{}, {"b": "a"}}},
	{`has( a )`, []Map{{"a": ""}}, []Map{{}}},
	{`all()`, []Map{{}, {"a": "b"}}, nil},
	{`all( )`, []Map{{}}, nil},
	{`global()`, []Map{{}, {"a": "b"}}, nil},
	{``, []Map{{}, {"a": "b"}}, nil},
	{" \t ", []Map{{}, {"a": "b"}}, nil},

	// Negation.
	{`!has(a)`, []Map{{}, {"b": "a"}}, []Map{{"a": ""}}},
	{`! has(a)`, []Map{{}}, []Map{{"a": "x"}}},
	{`!!has(a)`, []Map{{"a": "x"}}, []Map{{}}},
	{`!!!has(a)`, []Map{{}}, []Map{{"a": "x"}}},
	{`! !! has(a)`, []Map{{}}, []Map{{"a": "x"}}},
	{`!a == "b"`, []Map{{}, {"a": "c"}}, []Map{{"a": "b"}}},
	{`!(a == "b")`, []Map{{}, {"a": "c"}}, []Map{{"a": "b"}}},
	{`!(!(a == "b"))`, []Map{{"a": "b"}}, []Map{{}, {"a": "c"}}},
	{`!a != "b"`, []Map{{"a": "b"}}, []Map{{}, {"a": "c"}}},
	{`!a in {"x"}`, []Map{{}, {"a": "y"}}, []Map{{"a": "x"}}},
	{`!a not in {"x"}`, []Map{{"a": "x"}}, []Map{{}, {"a": "y"}}},
	{`!all()`, nil, []Map{{}, {"a": "b"}}},
	{`!global()`, nil, []Map{{}}},
	{`!(has(a) || has(b))`, []Map{{}, {"c": "1"}}, []Map{{"a": "1"}, {"b": "1"}}},
	{`!(has(a) && has(b))`, []Map{{}, {"a": "1"}, {"b": "1"}}, []Map{{"a": "1", "b": "1"}}},
	{`!(has(a) && has(b)) || has(c) && !(has(d) || has(e))`, []Map{{}, {"c": "1"}}, []Map{{"a": "", "b": ""}, {"a": "", "b": "", "c": "", "e": ""}}},
	{`!has(a) && has(b)`, []Map{{"b": "1"}}, []Map{{}, {"a": "1", "b": "1"}}},

	// Boolean operators and precedence.
	{`a == "1" && b == "2"`, []Map{{"a": "1", "b": "2"}}, []Map{{}, {"a": "1"}, {"b": "2"}, {"a": "1", "b": "3"}}},
	{`a == "1" || b == "2"`, []Map{{"a": "1"}, {"b": "2"}, {"a": "1", "b": "2"}}, []Map{{}, {"a": "2", "b": "1"}}},
	// && binds tighter than ||: a || (b && c).
	{`has(a) || has(b) && has(c)`,
		[]Map{{"a": ""}, {"b": "", "c": ""}, {"a": "", "b": ""}},
		[]Map{{}, {"b": ""}, {"c": ""}}},
	// (a && b) || c.
	{`has(a) && has(b) || has(c)`,
		[]Map{{"c": ""}, {"a": "", "b": ""}},
		[]Map{{}, {"a": ""}, {"b": ""}, {"a": "", "d": ""}}},
	{`(has(a) || has(b)) && has(c)`,
		[]Map{{"a": "", "c": ""}, {"b": "", "c": ""}},
		[]Map{{"c": ""}, {"a": ""}, {"a": "", "b": ""}}},
	{`has(a) && (has(b) || has(c))`,
		[]Map{{"a": "", "b": ""}, {"a": "", "c": ""}},
		[]Map{{"a": ""}, {"b": "", "c": ""}}},
	{`((((has(a)))))`, []Map{{"a": ""}}, []Map{{}}},
	{`a != "1" && b != "2"`, []Map{{}, {"a": "2", "b": "1"}}, []Map{{"a": "1"}, {"b": "2"}}},
	{`!a == "1" || !b == "2"`, []Map{{}, {"a": "1"}, {"b": "2"}}, []Map{{"a": "1", "b": "2"}}},
	{`all() && has(a)`, []Map{{"a": ""}}, []Map{{}}},
	{`!all() || has(a)`, []Map{{"a": ""}}, []Map{{}}},

	// Blanks between tokens are optional and free-form.
	{`a=="b"&&c!='d'||has(e)`, []Map{{"a": "b"}, {"e": ""}, {"a": "b", "c": "x"}}, []Map{{"a": "b", "c": "d"}, {}}},
	{"\ta\t==\t\"b\"\t", []Map{{"a": "b"}}, []Map{{}}},
	{`  a   not   in   {  "x"  ,  "y"  }  `, []Map{{"a": "z"}}, []Map{{"a": "x"}}},
	{`a in{"x"}`, []Map{{"a": "x"}}, []Map{{"a": "y"}}},
	{`a contains"x"`, []Map{{"a": "yxy"}}, []Map{{"a": "y"}}},

	// Label keys with every allowed character; keys that look like keywords.
	{`app.kubernetes.io/name == "web"`, []Map{{"app.kubernetes.io/name": "web"}}, []Map{{"app.kubernetes.io/name": "db"}, {"name": "web"}}},
	{`my-key_2 in {"v"}`, []Map{{"my-key_2": "v"}}, []Map{{"my-key": "v"}}},
	{`-a == "1"`, []Map{{"-a": "1"}}, []Map{{"a": "1"}}},
	{`9lives == "cat"`, []Map{{"9lives": "cat"}}, nil},
	{`_/.- == "x"`, []Map{{"_/.-": "x"}}, nil},
	{`has(example.com/x-y_z)`, []Map{{"example.com/x-y_z": ""}}, []Map{{"example.com/x-y": ""}}},
	{`contains contains "x"`, []Map{{"contains": "axb"}}, []Map{{"contains": "y"}}},
	{`in in {"x"}`, []Map{{"in": "x"}}, []Map{{"in": "y"}}},
	{`not in {"x"}`, []Map{{"not": "x"}}, []Map{{"not": "y"}}},
	{`not not in {"x"}`, []Map{{"not": "y"}, {}}, []Map{{"not": "x"}}},
	{`index in {"1"}`, []Map{{"index": "1"}}, []Map{{"in": "1"}}},
	{`has == "x" && all != "y" && global == "z"`, []Map{{"has": "x", "global": "z"}}, []Map{{"has": "x"}}},
	{`has(has)`, []Map{{"has": ""}}, []Map{{}}},
	{`starts starts with "a"`, []Map{{"starts": "ab"}}, nil},
	{`ends ends with "a"`, []Map{{"ends": "ba"}}, nil},
	{`containsx == "1"`, []Map{{"containsx": "1"}}, nil},
}

func TestEvaluate(t *testing.T) {
	for _, tc := range evalCases {
		sel, err := Parse(tc.sel)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.sel, err)
			continue
		}
		canon := MustParse(sel.String())
		for _, l := range append(slices.Clone(tc.match), tc.miss...) {
			if got, want := sel.Evaluate(l), refEval(tc.sel, l); got != want {
				t.Errorf("%q on %v: Evaluate = %v, reference evaluator = %v", tc.sel, l, got, want)
			}
		}
		for _, l := range tc.match {
			if !sel.Evaluate(l) {
				t.Errorf("%q should match %v", tc.sel, l)
			}
			if !canon.Evaluate(l) {
				t.Errorf("canonical %q of %q should match %v", sel, tc.sel, l)
			}
		}
		for _, l := range tc.miss {
			if sel.Evaluate(l) {
				t.Errorf("%q should not match %v", tc.sel, l)
			}
			if canon.Evaluate(l) {
				t.Errorf("canonical %q of %q should not match %v", sel, tc.sel, l)
			}
		}
	}
}

// funcLabels checks Evaluate works with any Labels implementation.
type funcLabels func(string) (string, bool)

func (f funcLabels) Get(k string) (string, bool) { return f(k) }

func TestEvaluateLabelsInterface(t *testing.T) {
	var asked []string
	l := funcLabels(func(k string) (string, bool) {
		asked = append(asked, k)
		return "v-" + k, true
	})
	sel := MustParse(`a == "v-a" && b starts with "v-" && c in {"v-c"}`)
	if !sel.Evaluate(l) {
		t.Fatal("expected match")
	}
	if fmt.Sprint(asked) != "[a b c]" {
		t.Errorf("labels looked up: %v", asked)
	}
}

func TestEvaluateShortCircuits(t *testing.T) {
	var asked []string
	l := funcLabels(func(k string) (string, bool) {
		asked = append(asked, k)
		return "", false
	})
	MustParse(`has(a) && has(b) || has(c) || has(d)`).Evaluate(l)
	if fmt.Sprint(asked) != "[a c d]" {
		t.Errorf("labels looked up: %v", asked)
	}
}

func TestEvaluateNilLabels(t *testing.T) {
	if !MustParse(`a != "x"`).Evaluate(nil) {
		t.Error(`a != "x" should match nil labels`)
	}
	if MustParse(`has(a)`).Evaluate(nil) {
		t.Error(`has(a) should not match nil labels`)
	}
}

func TestZeroSelector(t *testing.T) {
	var s Selector
	if !s.Evaluate(Map{}) || !s.MatchesAll() || s.String() != "all()" ||
		s.UniqueID() != MustParse("").UniqueID() || len(s.LabelKeys()) != 0 {
		t.Errorf("zero Selector should behave like all(): %q %q", s.String(), s.UniqueID())
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	sel := MustParse(`(a == "1" || b != "2") && c in {"1","2","3","4","5","6","7","8","9","10"} && ` +
		`d not in {"x"} && e contains "q" && !has(f) && g starts with "p" && h ends with "s" && all()`)
	var l Labels = Map{"a": "1", "c": "5", "e": "aqa", "g": "pp", "h": "ss"}
	if !sel.Evaluate(l) {
		t.Fatal("expected match")
	}
	if n := testing.AllocsPerRun(100, func() { sel.Evaluate(l) }); n != 0 {
		t.Errorf("Evaluate allocated %v times per run", n)
	}
}

func TestMatchesAll(t *testing.T) {
	for s, want := range map[string]bool{
		``: true, ` `: true, `all()`: true, `global()`: true, `(all())`: true, `!!all()`: true,
		`!all()`: false, `has(a)`: false, `all() || has(a)`: false, `all() && all()`: false,
	} {
		if got := MustParse(s).MatchesAll(); got != want {
			t.Errorf("MatchesAll(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRequired(t *testing.T) {
	for s, want := range map[string]string{
		``:                                   `false`,
		`has(a)`:                             `false`,
		`a == "1"`:                           `a [1]`,
		`a in {"2", "1"}`:                    `a [1 2]`,
		`a in {}`:                            `a []`,
		`has(b) && a == "1"`:                 `a [1]`,
		`b in {"x"} && a == "1"`:             `b [x]`,
		`a == "1" || b == "2"`:               `false`,
		`!(a == "1")`:                        `false`,
		`a != "1"`:                           `false`,
		`(a == "1" || c == "3") && b == "2"`: `b [2]`,
	} {
		key, values, ok := MustParse(s).Required()
		got := "false"
		if ok {
			got = fmt.Sprint(key, " ", values)
		}
		if got != want {
			t.Errorf("Required(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestLabelKeys(t *testing.T) {
	for s, want := range map[string]string{
		``:       `[]`,
		`all()`:  `[]`,
		`has(z)`: `[z]`,
		`b == "1" && a in {} || !has(b) && c not in {"a"} || d contains "x" && e starts with "" && f ends with ""`: `[a b c d e f]`,
		`x != "1"`: `[x]`,
	} {
		sel := MustParse(s)
		keys := sel.LabelKeys()
		if got := fmt.Sprint(keys); got != want {
			t.Errorf("LabelKeys(%q) = %v, want %v", s, got, want)
		}
		if len(keys) > 0 {
			keys[0] = "mutated"
			if sel.LabelKeys()[0] == "mutated" {
				t.Errorf("LabelKeys(%q) exposes internal state", s)
			}
		}
	}
}
