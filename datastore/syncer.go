package datastore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Defaults for SyncerOptions.
const (
	DefaultPageSize           = 500
	DefaultMaxBatch           = 1000
	DefaultBackoffMin         = 100 * time.Millisecond
	DefaultBackoffMax         = 10 * time.Second
	DefaultRequestTimeout     = 10 * time.Second
	DefaultWatchCheckInterval = 10 * time.Second
)

// SyncerOptions configures a Syncer. Zero fields take the defaults above.
type SyncerOptions struct {
	// Logger receives the Syncer's logs; nil discards them.
	Logger *zap.Logger
	// Metrics records the Syncer's metrics; nil records nothing.
	Metrics *Metrics
	// PageSize is the number of keys per list request.
	PageSize int64
	// MaxBatch bounds the number of updates in one Batch.
	MaxBatch int
	// BackoffMin and BackoffMax bound the delay before re-listing after a
	// failure. The delay doubles per consecutive failure, with jitter.
	BackoffMin, BackoffMax time.Duration
	// RequestTimeout bounds each list request.
	RequestTimeout time.Duration
	// WatchCheckInterval is how long the watch may be silent before the
	// Syncer asks etcd for a progress notification; when none arrives within
	// another interval the connection is taken as lost and the Syncer
	// re-lists. A dead etcd is thus noticed within two to three intervals.
	WatchCheckInterval time.Duration
}

func (o *SyncerOptions) setDefaults() {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = DefaultBackoffMin
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	o.BackoffMax = max(o.BackoffMax, o.BackoffMin)
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.WatchCheckInterval <= 0 {
		o.WatchCheckInterval = DefaultWatchCheckInterval
	}
}

// Syncer mirrors untrackd's resources from etcd into a stream of Batches.
//
// It lists the prefixes model.KindPrefix(k) for every k in model.Kinds, all at
// one revision, then watches them from that revision on. Keys outside these
// prefixes (other Calico kinds) are never read. Every failure (a compacted,
// cancelled, broken or silent watch, an unreachable etcd) ends in a re-list
// after a backoff, and the re-list emits only what changed; see Run.
type Syncer struct {
	cli     *clientv3.Client
	opts    SyncerOptions
	log     *zap.Logger
	tracker *tracker
	started atomic.Bool
	rev     int64 // latest revision seen, for logs
}

// NewSyncer returns a Syncer reading through cli. It does not contact etcd.
func NewSyncer(cli *clientv3.Client, opts SyncerOptions) *Syncer {
	opts.setDefaults()
	return &Syncer{
		cli:     cli,
		opts:    opts,
		log:     opts.Logger,
		tracker: newTracker(opts.Logger, opts.Metrics),
	}
}

// Run syncs until ctx is done and then returns nil. It may be called once per
// Syncer; a second call returns an error at once.
//
// Run sends every Batch from its own goroutine, blocking until the consumer
// receives it; it never closes out. What is sent:
//   - On the first complete listing, every valid resource, in Batches of at
//     most MaxBatch updates; the last carries Status InSync. Earlier ones
//     carry ResyncInProgress.
//   - While in sync, one Batch per group of watch events that arrived
//     together (status InSync).
//   - On a failure, a Batch with the new status, ResyncInProgress (the watch
//     was compacted) or WaitingForDatastore (etcd is unreachable or silent),
//     carrying any updates still queued. Then nothing until etcd answers a
//     re-list, whose differences from the state already emitted are sent as
//     above, ending in InSync. Unchanged keys are never re-sent and nothing
//     is flushed, so the consumer keeps its state throughout.
//
// Run retries forever with exponential backoff; it logs the first failure of
// a run of failures at warn level, later ones at debug level with a warn
// reminder at most once a minute, and the recovery at info level.
func (s *Syncer) Run(ctx context.Context, out chan<- Batch) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("datastore: Syncer.Run called twice")
	}
	em := newEmitter(out, s.opts.MaxBatch, s.opts.Metrics)
	bo := newBackoff(s.opts.BackoffMin, s.opts.BackoffMax)
	fl := failureLog{log: s.log}
	for {
		watched, err := s.syncOnce(ctx, em, &fl)
		if ctx.Err() != nil {
			return nil
		}
		if em.status == InSync {
			s.opts.Metrics.resync()
		}
		st := statusAfter(err)
		fl.failed(err, st, s.rev)
		if watched >= s.opts.BackoffMax {
			bo.reset() // the last watch was healthy for a while
		}
		if em.flush(ctx, st) != nil || sleep(ctx, bo.delay()) != nil {
			return nil
		}
	}
}

// syncOnce lists and then watches until the watch fails. It returns how long
// the watch ran and why it stopped.
func (s *Syncer) syncOnce(ctx context.Context, em *emitter, fl *failureLog) (time.Duration, error) {
	start := time.Now()
	rev, err := s.list(ctx, em)
	if err != nil {
		return 0, err
	}
	s.rev = rev
	fl.synced(rev, len(s.tracker.entries), time.Since(start))
	start = time.Now()
	err = s.watch(ctx, em, rev)
	return time.Since(start), err
}

// statusAfter maps a sync failure to the status to report: a compaction
// means etcd is there and we only need to re-list; anything else means we
// cannot trust the connection.
func statusAfter(err error) Status {
	if errors.Is(err, rpctypes.ErrCompacted) {
		return ResyncInProgress
	}
	return WaitingForDatastore
}

// failureLog rate-limits the logs of repeated sync failures.
type failureLog struct {
	log      *zap.Logger
	attempts int       // consecutive failures
	since    time.Time // first of them
	lastWarn time.Time
	everSync bool
}

const failureReminder = time.Minute

func (f *failureLog) failed(err error, st Status, rev int64) {
	now := time.Now()
	f.attempts++
	fields := []zap.Field{zap.Error(err), zap.Stringer("status", st), zap.Int64("lastRevision", rev)}
	switch {
	case f.attempts == 1:
		f.since, f.lastWarn = now, now
		msg := "etcd sync failed; retrying with backoff"
		if f.everSync {
			msg = "lost sync with etcd; re-listing with backoff"
		}
		f.log.Warn(msg, fields...)
	case now.Sub(f.lastWarn) >= failureReminder:
		f.lastWarn = now
		f.log.Warn("still cannot sync with etcd; retrying with backoff",
			append(fields, zap.Int("attempts", f.attempts), zap.Duration("for", now.Sub(f.since)))...)
	default:
		f.log.Debug("etcd sync attempt failed", append(fields, zap.Int("attempts", f.attempts))...)
	}
}

func (f *failureLog) synced(rev int64, keys int, took time.Duration) {
	fields := []zap.Field{zap.Int64("revision", rev), zap.Int("keys", keys), zap.Duration("listTook", took)}
	switch {
	case f.attempts > 0:
		f.log.Info("in sync with etcd again",
			append(fields, zap.Int("failedAttempts", f.attempts), zap.Duration("outOfSyncFor", time.Since(f.since)))...)
	case !f.everSync:
		f.log.Info("in sync with etcd", fields...)
	}
	f.attempts = 0
	f.everSync = true
}
