package datastore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/model"
)

// errWatchSilent reports a watch that answered neither events nor a progress
// request: etcd is gone or the connection is broken. The etcd client would
// otherwise retry behind our back forever without telling us.
var errWatchSilent = errors.New("etcd did not answer a watch progress request")

// kindResponse is one watch response and the kind whose prefix it is for.
type kindResponse struct {
	kind   model.Kind
	resp   clientv3.WatchResponse
	closed bool // the watch channel was closed
}

// watch watches every prefix from rev, the listing's revision, and emits the
// changes until the watch fails, which it always eventually does, or ctx is
// done. Responses that arrive together are coalesced into one Batch.
//
// Why rev and not rev+1: etcd ignores a progress request while any watcher's
// start revision is ahead of its store revision (progressIfSync), so on an
// idle etcd a watch from rev+1 would never answer the liveness check below.
// Replaying the changes made at rev is harmless: the listing already holds
// them, and the tracker drops a key whose mod revision and value it has.
//
// The four per-prefix watches share one context and so one gRPC stream. One
// goroutine per watch forwards its responses; all of them have exited when
// watch returns.
func (s *Syncer) watch(ctx context.Context, em *emitter, rev int64) error {
	// WithRequireLeader makes a member that loses its leader cancel the
	// watch instead of silently serving stale data.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	merged := make(chan kindResponse)
	for _, kind := range model.Kinds {
		wch := s.cli.Watch(wctx, model.KindPrefix(kind),
			clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithProgressNotify())
		wg.Add(1)
		go func() {
			defer wg.Done()
			forward(wctx, kind, wch, merged)
		}()
	}

	live := liveness{interval: s.opts.WatchCheckInterval, heard: time.Now()}
	tick := time.NewTicker(s.opts.WatchCheckInterval / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case kr := <-merged:
			if err := s.handleResponses(ctx, em, kr, merged); err != nil {
				return err
			}
			live.heard = time.Now() // also covers time spent blocked on out
			live.asked = time.Time{}
		case now := <-tick.C:
			if err := live.check(wctx, now, s.cli); err != nil {
				return err
			}
		}
	}
}

// forward copies responses from wch to merged until wctx is done, then
// drains wch so the etcd client can close it.
func forward(wctx context.Context, kind model.Kind, wch clientv3.WatchChan, merged chan<- kindResponse) {
	defer func() {
		for range wch {
		}
	}()
	for resp := range wch {
		select {
		case merged <- kindResponse{kind: kind, resp: resp}:
		case <-wctx.Done():
			return
		}
	}
	select {
	case merged <- kindResponse{kind: kind, closed: true}:
	case <-wctx.Done():
	}
}

// handleResponses applies kr and whatever other responses are already
// waiting, up to a Batch's worth of updates, and emits them as one Batch.
func (s *Syncer) handleResponses(ctx context.Context, em *emitter, kr kindResponse, merged <-chan kindResponse) error {
	for {
		if err := s.handleResponse(ctx, em, kr); err != nil {
			return err // the caller sends what is queued with the new status
		}
		if len(em.pending) >= s.opts.MaxBatch {
			break
		}
		var more bool
		select {
		case kr, more = <-merged:
		default:
		}
		if !more {
			break
		}
	}
	return em.flush(ctx, InSync)
}

func (s *Syncer) handleResponse(ctx context.Context, em *emitter, kr kindResponse) error {
	prefix := model.KindPrefix(kr.kind)
	resp := kr.resp
	switch {
	case kr.closed:
		return fmt.Errorf("watch of %s closed", prefix)
	case resp.CompactRevision != 0:
		return fmt.Errorf("watch of %s: %w (history before revision %d is gone)",
			prefix, rpctypes.ErrCompacted, resp.CompactRevision)
	case resp.Canceled || resp.Err() != nil:
		return fmt.Errorf("watch of %s cancelled: %w", prefix, resp.Err())
	}
	s.rev = max(s.rev, resp.Header.Revision) // progress notifications advance it too
	s.opts.Metrics.watchEvent(len(resp.Events))
	for _, ev := range resp.Events {
		var u Update
		var ok bool
		switch ev.Type {
		case mvccpb.PUT:
			u, ok = s.tracker.put(kr.kind, string(ev.Kv.Key), ev.Kv.Value, ev.Kv.ModRevision)
		case mvccpb.DELETE:
			u, ok = s.tracker.del(string(ev.Kv.Key), ev.Kv.ModRevision)
		}
		if ok {
			if err := em.add(ctx, u, InSync); err != nil {
				return err
			}
		}
	}
	return nil
}

// liveness notices a silent watch. When nothing has been heard for an
// interval it asks etcd for a progress notification (answered on the watch
// stream); when that goes unanswered for another interval the watch is dead.
//
// One false alarm remains: after the etcd client resumes a broken watch on
// its own, it resumes past the store revision, so an etcd with no writes at
// all leaves the request unanswered. The cost is one needless re-list after a
// connection blip, which is also a fair reaction to the blip.
type liveness struct {
	interval time.Duration
	heard    time.Time // last response, or when the watch started
	asked    time.Time // pending progress request, zero if none
}

func (l *liveness) check(wctx context.Context, now time.Time, cli *clientv3.Client) error {
	switch {
	case now.Sub(l.heard) < l.interval:
		return nil
	case l.asked.IsZero():
		l.asked = now
		// The context must carry the watch's metadata to reach its stream.
		// The call blocks while the client is reconnecting; a timeout then
		// means the same as no answer.
		rctx, cancel := context.WithTimeout(wctx, l.interval)
		defer cancel()
		if err := cli.RequestProgress(rctx); err != nil {
			return fmt.Errorf("%w: %w", errWatchSilent, err)
		}
		return nil
	case now.Sub(l.asked) >= l.interval:
		return fmt.Errorf("%w within %s", errWatchSilent, l.interval)
	}
	return nil
}
