// Errors and limits.
//
// Every error returned by Parse is a *ParseError carrying the byte offset of
// the problem in the input, so callers (validation, API error messages) can
// point at it.

package selector

import "fmt"

// Limits enforced by Parse. Selectors come from the datastore and may be
// written by anyone with access to it, so they are bounded.
const (
	// MaxSelectorLength is the maximum length in bytes of a selector's text
	// and of its canonical form (String).
	MaxSelectorLength = 64 * 1024
	// MaxNestingDepth bounds how deeply parentheses and '!' operators may
	// nest: every '(' and every '!' that encloses a term counts one level.
	MaxNestingDepth = 256
	// MaxLabelKeyLength is the maximum length in bytes of a label key.
	MaxLabelKeyLength = 512
)

// ParseError describes why a selector could not be parsed.
type ParseError struct {
	// Input is the selector text that failed to parse.
	Input string
	// Pos is the byte offset in Input at which the problem was found.
	Pos int
	// Msg describes the problem.
	Msg string
}

// maxQuotedInput is how much of the input Error quotes verbatim.
const maxQuotedInput = 96

// Error renders the error as `selector "<input>" at offset <pos>: <msg>`.
// Long inputs are abbreviated to an excerpt around the offset.
func (e *ParseError) Error() string {
	if len(e.Input) <= maxQuotedInput {
		return fmt.Sprintf("selector %q at offset %d: %s", e.Input, e.Pos, e.Msg)
	}
	start := max(min(e.Pos, len(e.Input))-maxQuotedInput/2, 0)
	end := min(start+maxQuotedInput, len(e.Input))
	return fmt.Sprintf("selector of %d bytes at offset %d (near %q): %s",
		len(e.Input), e.Pos, e.Input[start:end], e.Msg)
}

func errorf(input string, pos int, format string, args ...any) *ParseError {
	return &ParseError{Input: input, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
