package nft

import (
	"errors"
	"fmt"
)

// Errors a Writer reports, matching the kernel's errno for the same fault.
var (
	ErrNotFound = errors.New("no such object")       // ENOENT
	ErrExists   = errors.New("object exists")        // EEXIST
	ErrBusy     = errors.New("object is in use")     // EBUSY
	ErrInvalid  = errors.New("invalid argument")     // EINVAL
	ErrLoop     = errors.New("jump would loop")      // ELOOP
	ErrInjected = errors.New("injected write error") // Fake only
)

// OpError reports which operation of a transaction failed.
type OpError struct {
	Index int // position in Transaction.Ops
	Op    Op
	Err   error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s %s (operation %d): %v", e.Op.Verb, e.Op.Name, e.Index, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }
