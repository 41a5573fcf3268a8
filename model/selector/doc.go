// Package selector implements Calico's label selector language.
//
// # Grammar
//
//	selector   = [ or-expr ]                      (empty or blank text selects everything)
//	or-expr    = and-expr { "||" and-expr }
//	and-expr   = unary { "&&" unary }
//	unary      = { "!" } term
//	term       = "(" or-expr ")"
//	           | "has(" key ")" | "all(" ")" | "global(" ")"
//	           | key ( "==" | "!=" | "contains" | "starts with" | "ends with" ) string
//	           | key ( "in" | "not in" ) "{" [ string { "," string } [ "," ] ] "}"
//	key        = 1*512 of [a-zA-Z0-9_./-]
//	string     = '"' { any byte but '"' } '"' | "'" { any byte but "'" } "'"
//
// Spaces and tabs are ignored between tokens; no other whitespace is
// accepted. There are no escape sequences inside strings. "&&" binds tighter
// than "||"; "!" applies to the single term (or parenthesised expression)
// that follows it. The word operators are recognised only directly after a
// label key and must end at a word boundary, so keys may be called "in",
// "not", "contains", "has" and so on. As in Calico, "startswith",
// "endswith" and "notin" (without the space) are also accepted, a trailing
// comma inside a set is allowed, and a key may start with any key character
// (a digit, '-', '.', '/' or '_' included).
//
// # Semantics
//
// When the label is missing, "!=" and "not in" are true while "==", "in",
// "contains", "starts with" and "ends with" are false. all() and global()
// match everything.
//
// # Contracts
//
//   - A *Selector is immutable once Parse returns it and is safe for
//     concurrent use.
//   - Evaluate runs in time linear in the size of the parsed expression and
//     does not allocate (given a Labels implementation that does not).
//   - Parse runs in time (near) linear in the input length, never recurses
//     more than MaxNestingDepth levels, and rejects inputs longer than
//     MaxSelectorLength, keys longer than MaxLabelKeyLength and nesting deeper
//     than MaxNestingDepth with a *ParseError.
//   - String returns a canonical form; Parse(s.String()) always succeeds and
//     yields a selector with the same String and the same behaviour.
package selector
