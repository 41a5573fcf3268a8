package model

import (
	"fmt"
	"strings"
)

// FieldError is one validation problem: the JSON path of the field and why
// its value is not acceptable.
type FieldError struct {
	Path   string // e.g. spec.ingress[0].destination.ports[1]
	Reason string // e.g. "99999" is not a valid port
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// ErrorList is every problem validation found in one resource, in field
// order (at most MaxFieldErrors, then one saying how many more there
// were). It is returned as an error only when non-empty.
type ErrorList []FieldError

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// MaxFieldErrors bounds the problems reported for one resource; the rest
// are only counted. A stored value may be 1.5 MiB, and reporting every bad
// entry of such a value would make an error (and a log line) of tens of
// megabytes.
const MaxFieldErrors = 100

// errs collects field errors while walking a resource.
type errs struct {
	list ErrorList
	more int // problems beyond MaxFieldErrors
}

func (e *errs) add(path, format string, args ...any) {
	if len(e.list) >= MaxFieldErrors {
		e.more++
		return
	}
	e.list = append(e.list, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	if e.more > 0 {
		return append(e.list[:len(e.list):len(e.list)], FieldError{Reason: fmt.Sprintf("and %d more problems", e.more)})
	}
	return e.list
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
