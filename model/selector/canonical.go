// Canonical rendering and identity.
//
// Contract: the canonical form depends only on the normalised tree, so
// selectors that differ only in blanks, quote style, redundant parentheses,
// "!!" pairs, the grouping of a run of '&&' (or of '||'), or the order and
// repetition of set values render identically. Operand order is kept.
// Layout: one space around binary operators, ", " between set values,
// parentheses only where precedence needs them, values in double quotes
// unless they contain a double quote (then single quotes; a value can never
// contain both). Parsing the canonical form gives back the same tree, and its
// nesting and length never exceed those of the text it came from (length
// within MaxSelectorLength is enforced by Parse), so it always re-parses.

package selector

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Binding strength of a position in the output, weakest first.
const (
	precOr = iota
	precAnd
	precUnary
)

var opWords = [...]string{
	opEq:         " == ",
	opNe:         " != ",
	opContains:   " contains ",
	opStartsWith: " starts with ",
	opEndsWith:   " ends with ",
	opIn:         " in {",
	opNotIn:      " not in {",
}

func writeQuoted(b *strings.Builder, s string) {
	q := byte('"')
	if strings.IndexByte(s, '"') >= 0 {
		q = '\''
	}
	b.WriteByte(q)
	b.WriteString(s)
	b.WriteByte(q)
}

// write renders n at a position of binding strength prec.
func (n *node) write(b *strings.Builder, prec int) {
	switch n.op {
	case opAll:
		b.WriteString("all()")
	case opGlobal:
		b.WriteString("global()")
	case opHas:
		b.WriteString("has(")
		b.WriteString(n.key)
		b.WriteByte(')')
	case opEq, opNe, opContains, opStartsWith, opEndsWith:
		b.WriteString(n.key)
		b.WriteString(opWords[n.op])
		writeQuoted(b, n.value)
	case opIn, opNotIn:
		b.WriteString(n.key)
		b.WriteString(opWords[n.op])
		for i, v := range n.values {
			if i > 0 {
				b.WriteString(", ")
			}
			writeQuoted(b, v)
		}
		b.WriteByte('}')
	case opNot:
		b.WriteByte('!')
		n.kids[0].write(b, precUnary)
	case opAnd, opOr:
		own, sep := precAnd, " && "
		if n.op == opOr {
			own, sep = precOr, " || "
		}
		paren := prec > own
		if paren {
			b.WriteByte('(')
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b, own)
		}
		if paren {
			b.WriteByte(')')
		}
	}
}

func (n *node) canonical() string {
	var b strings.Builder
	n.write(&b, precOr)
	return b.String()
}

// idEncoding is lowercase base32 without padding, so IDs are [a-z2-7]+.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// uniqueIDBytes is how much of the SHA-256 digest the ID keeps: 15 bytes,
// 120 bits, exactly 24 base32 characters.
const uniqueIDBytes = 15

func uniqueID(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return idEncoding.EncodeToString(sum[:uniqueIDBytes])
}
