package datastore

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/untrackd/untrackd/model"
)

// list reads every watched prefix, page by page, at one revision (that of
// the first response), feeds what it finds to the tracker and emits the
// differences, ending with a Batch whose status is InSync. It returns the
// listing's revision. On error, the updates already emitted stand (they
// carried ResyncInProgress) and the caller must list again.
func (s *Syncer) list(ctx context.Context, em *emitter) (int64, error) {
	s.tracker.beginList()
	var rev int64
	for _, kind := range model.Kinds {
		var err error
		if rev, err = s.listPrefix(ctx, em, kind, rev); err != nil {
			return 0, err
		}
	}
	for _, u := range s.tracker.sweep(rev) {
		if err := em.add(ctx, u, ResyncInProgress); err != nil {
			return 0, err
		}
	}
	if err := em.flush(ctx, InSync); err != nil {
		return 0, err
	}
	return rev, nil
}

// listPrefix lists kind's prefix at rev, or at the current revision when rev
// is 0, and returns the revision used.
func (s *Syncer) listPrefix(ctx context.Context, em *emitter, kind model.Kind, rev int64) (int64, error) {
	prefix := model.KindPrefix(kind)
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	for {
		opts := []clientv3.OpOption{
			clientv3.WithRange(end),
			clientv3.WithLimit(s.opts.PageSize),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend),
		}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		rctx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
		resp, err := s.cli.Get(rctx, key, opts...)
		cancel()
		if err != nil {
			return 0, listError(s.cli, prefix, rev, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if u, ok := s.tracker.put(kind, string(kv.Key), kv.Value, kv.ModRevision); ok {
				if err := em.add(ctx, u, ResyncInProgress); err != nil {
					return 0, err
				}
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return rev, nil
		}
		// The next page starts just after the last key of this one.
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// listError describes a failed list request. A request that timed out
// without a connection says so: the etcd client waits for a connection and
// then reports only "context deadline exceeded" (Probe tells why).
func listError(cli *clientv3.Client, prefix string, rev int64, err error) error {
	at := ""
	if rev != 0 {
		at = fmt.Sprintf(" at revision %d", rev)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		if st := cli.ActiveConnection().GetState(); st != connectivity.Ready {
			return fmt.Errorf("list %s%s: %w (no connection to etcd: %s)", prefix, at, err, st)
		}
	}
	return fmt.Errorf("list %s%s: %w", prefix, at, err)
}
