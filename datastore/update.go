package datastore

import (
	"fmt"

	"github.com/untrackd/untrackd/model"
)

// Update is the new state of one key. Value nil means the key is absent:
// deleted, or present with a value that failed decoding or validation.
//
// Revision is the etcd mod revision of the key. For a delete seen on the
// watch it is the revision of the delete; for a key found missing by a
// re-list it is the revision of that listing.
type Update struct {
	Key      model.Key
	Value    model.Resource
	Revision int64
}

// Status says how complete the consumer's view is after a Batch.
type Status int

// The Syncer's statuses. A consumer should assume WaitingForDatastore until
// the first Batch arrives.
const (
	// WaitingForDatastore: etcd cannot be reached (or the connection was
	// lost); the last state emitted may be stale.
	WaitingForDatastore Status = iota
	// ResyncInProgress: etcd is reachable and the Syncer is listing; the
	// updates emitted so far may mix old and new states.
	ResyncInProgress
	// InSync: every change up to the latest revision seen has been emitted.
	InSync
)

// String returns the status name, e.g. "InSync".
func (s Status) String() string {
	switch s {
	case WaitingForDatastore:
		return "WaitingForDatastore"
	case ResyncInProgress:
		return "ResyncInProgress"
	case InSync:
		return "InSync"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Batch is a group of updates the Syncer emits together, and its status
// after the consumer has applied them. Updates may be empty when only the
// status changed. Updates to one key appear in revision order; no order
// across keys is promised. The consumer owns the slice.
type Batch struct {
	Updates []Update
	Status  Status
}
