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
// order. It is returned as an error only when non-empty.
type ErrorList []FieldError

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// errs collects field errors while walking a resource.
type errs struct{ list ErrorList }

func (e *errs) add(path, format string, args ...any) {
	e.list = append(e.list, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (e *errs) err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e.list
}

func idx(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }
