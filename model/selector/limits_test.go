// Tests of the robustness limits: input length, nesting depth, key length,
// and that hostile inputs are handled quickly.

package selector

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"
)

func wantParseError(t *testing.T, s string, pos int, msg string) {
	t.Helper()
	_, err := Parse(s)
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("Parse(%.40q...): got %v, want *ParseError", s, err)
	}
	if pe.Pos != pos || !strings.Contains(pe.Msg, msg) {
		t.Errorf("Parse(%.40q...): got offset %d %q, want offset %d containing %q", s, pe.Pos, pe.Msg, pos, msg)
	}
}

func nested(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func TestNestingLimit(t *testing.T) {
	// Exactly at the limit is fine.
	for _, s := range []string{
		nested("(", ")", MaxNestingDepth, "has(a)"),
		nested("!", "", MaxNestingDepth, "has(a)"),
		nested("!(", ")", MaxNestingDepth/2, "has(a)"),
		nested("(!", ")", MaxNestingDepth/2, "has(a)"),
		nested("( ", " ) && has(b)", MaxNestingDepth, "has(a)"),
	} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(depth %d): %v", MaxNestingDepth, err)
		}
		checkRoundTrip(t, s)
	}
	// One more level is rejected, at the offending token.
	const tooDeep = "nesting too deep"
	wantParseError(t, nested("(", ")", MaxNestingDepth+1, "has(a)"), MaxNestingDepth, tooDeep)
	wantParseError(t, nested("!", "", MaxNestingDepth+1, "has(a)"), MaxNestingDepth, tooDeep)
	wantParseError(t, nested("!(", ")", MaxNestingDepth/2, "!has(a)"), MaxNestingDepth, tooDeep)
	// Sequential (not nested) '!'s and groups do not add up.
	seq := strings.Repeat("!(!has(a)) && ", 1000) + "has(b)"
	if _, err := Parse(seq); err != nil {
		t.Errorf("sequential groups: %v", err)
	}
}

func TestDeepInputsFailFast(t *testing.T) {
	const n = 100_000
	for name, s := range map[string]string{
		"parens":       strings.Repeat("(", n),
		"nots":         strings.Repeat("!", n),
		"not-parens":   strings.Repeat("!(", n/2),
		"closed":       nested("(", ")", n/2, "has(a)"),
		"spaced":       strings.Repeat("( ", n/2),
		"unterminated": strings.Repeat("(", 100) + `a == "` + strings.Repeat("x", n),
	} {
		start := time.Now()
		_, err := Parse(s)
		if err == nil {
			t.Errorf("%s: expected an error", name)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

func TestLengthLimit(t *testing.T) {
	// A selector of exactly MaxSelectorLength bytes is accepted...
	s := `has(a)` + strings.Repeat(" ", MaxSelectorLength-len(`has(a)`))
	if _, err := Parse(s); err != nil {
		t.Errorf("Parse(max length): %v", err)
	}
	// ... one byte more is not, whatever it holds.
	wantParseError(t, s+" ", MaxSelectorLength, "selector too long: 65537 bytes (max 65536)")
	wantParseError(t, strings.Repeat("(", MaxSelectorLength+1), MaxSelectorLength, "selector too long")

	// The canonical form must fit too, so that String() always re-parses:
	// `a==""&&` grows to `a == "" && ` (7 bytes to 11).
	dense := strings.Repeat(`a==""&&`, (MaxSelectorLength-6)/7) + `a==""`
	wantParseError(t, dense, 0, "canonical form is")
	half := strings.Repeat(`a==""&&`, (MaxSelectorLength/2)/7) + `a==""`
	checkRoundTrip(t, half)
}

func TestLabelKeyLimit(t *testing.T) {
	key := strings.Repeat("k", MaxLabelKeyLength)
	for _, s := range []string{key + ` == "v"`, `has(` + key + `)`, `x == "1" && ` + key + ` in {}`} {
		sel, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(key of %d bytes): %v", MaxLabelKeyLength, err)
			continue
		}
		if !sel.Evaluate(Map{key: "v"}) && !strings.Contains(s, " in {}") {
			t.Errorf("%q should match", s)
		}
	}
	long := key + "k"
	wantParseError(t, long+` == "v"`, 0, "label key too long: 513 bytes (max 512)")
	wantParseError(t, `has( `+long+`)`, 5, "label key too long")
	wantParseError(t, `a == "b" || `+long+` == "v"`, 12, "label key too long")
	// Values have no limit of their own beyond the selector length.
	if _, err := Parse(`a == "` + strings.Repeat("v", 10_000) + `"`); err != nil {
		t.Errorf("long value: %v", err)
	}
}

// TestLargeInputsAreFast parses and evaluates maximum-size selectors of
// several shapes; a super-linear algorithm would take far longer.
func TestLargeInputsAreFast(t *testing.T) {
	var bigSet strings.Builder
	bigSet.WriteString(`a in {`)
	for i := 0; bigSet.Len() < MaxSelectorLength/2; i++ {
		fmt.Fprintf(&bigSet, `"%d",`, i)
	}
	bigSet.WriteString(`}`)
	shapes := map[string]string{
		"big set":     bigSet.String(),
		"dup set":     `a in {` + strings.Repeat(`"x",`, MaxSelectorLength/4-4) + `}`,
		"many ands":   strings.Repeat(`has(a) && `, MaxSelectorLength/10-1) + `has(a)`,
		"many ors":    strings.Repeat(`has(a) || `, MaxSelectorLength/10-1) + `has(a)`,
		"mixed":       strings.Repeat(`has(a) && has(b) || `, MaxSelectorLength/20-1) + `has(a)`,
		"nested flat": nested("(", ")", MaxNestingDepth, strings.Repeat(`has(a) && `, 5000)+`has(a)`),
		"deep and":    strings.Repeat(strings.Repeat(`has(a) && `, 20)+`(`, MaxNestingDepth) + `has(a)` + strings.Repeat(`)`, MaxNestingDepth),
		"long value":  `a == "` + strings.Repeat("x", MaxSelectorLength-10) + `"`,
		"blanks":      strings.Repeat(" \t", MaxSelectorLength/2-4) + `all()`,
		"nots":        strings.Repeat(`!!!!!!!!has(a) && `, MaxSelectorLength/18-1) + `has(a)`,
	}
	labels := Map{"a": "x", "b": "y"}
	for name, s := range shapes {
		start := time.Now()
		sel, err := Parse(s)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for range 100 {
			sel.Evaluate(labels)
		}
		if _, err := Parse(sel.String()); err != nil {
			t.Errorf("%s: re-parse: %v", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
}

// TestRoundTripAtDepthLimit builds random expressions whose canonical form
// needs more parentheses per level than the input has (an '||' inside an
// '&&' inside ...) and checks the canonical form never nests deeper.
func TestRoundTripAtDepthLimit(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	leaf := func() string {
		return []string{`has(a)`, `!has(b)`, `c == "1"`, `d in {"x"}`, `all()`}[rng.Intn(5)]
	}
	// Groups nest to limit-1 levels; leaves may add one '!'.
	const limit = MaxNestingDepth - 1
	for range 200 {
		var b strings.Builder
		depth, closes := 0, []string{}
		for depth < limit {
			switch rng.Intn(4) {
			case 0:
				b.WriteString(leaf() + " && (")
				closes = append(closes, " || "+leaf()+")")
				depth++
			case 1:
				b.WriteString(leaf() + " || " + leaf() + " && (")
				closes = append(closes, ")")
				depth++
			case 2:
				if depth+2 > limit {
					continue
				}
				b.WriteString("!(")
				closes = append(closes, " && "+leaf()+")")
				depth += 2
			case 3:
				if depth+3 > limit {
					continue
				}
				b.WriteString("!!(")
				closes = append(closes, ")")
				depth += 3
			}
		}
		b.WriteString("!has(z)") // reaches exactly MaxNestingDepth
		for i := len(closes) - 1; i >= 0; i-- {
			b.WriteString(closes[i])
		}
		s := b.String()
		if _, err := Parse(s); err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		checkRoundTrip(t, s)
	}
}

func TestConcurrentUse(t *testing.T) {
	sel := MustParse(`a in {"1","2","3","4","5","6","7","8","9","10"} && !has(b) || c starts with "x"`)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := Map{"a": fmt.Sprint(g), "c": "xy"}
			for range 1000 {
				if !sel.Evaluate(l) {
					t.Error("expected match")
					return
				}
				_ = sel.String() + sel.UniqueID()
				_ = sel.LabelKeys()
			}
		}()
	}
	wg.Wait()
}
