package dataplane

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// Options configure a Driver.
type Options struct {
	Writer nft.Writer
	Log    *zap.Logger
	Render render.Config
	// RetryMin and RetryMax bound the backoff between failed applies
	// (defaults 100ms and 30s).
	RetryMin, RetryMax time.Duration
	// RefreshInterval, if positive, re-reads the kernel periodically and
	// restores anything that differs from the desired state.
	RefreshInterval time.Duration
	// OnApply, if set, is called after every apply attempt with its
	// outcome; the health and metrics code hooks in here.
	OnApply func(ApplyResult)
	// Interfaces, if set, delivers snapshots of the host's interfaces and
	// their addresses (see package ifacemon); they decide which interface
	// a host endpoint with only expectedIPs governs.
	Interfaces <-chan map[string][]netip.Addr
	// KernelChanged, if set, delivers notices that something other than
	// the driver changed the table (see nft.Monitor); each makes Run read
	// the kernel back and repair it at once, as the refresh does (also
	// while backing off: the change may have ended the failures). The
	// sender must rate-limit them.
	KernelChanged <-chan struct{}
}

// ApplyResult describes one apply attempt.
type ApplyResult struct {
	Err      error
	Duration time.Duration
	Ops      int  // operations in the transaction (0: nothing to do)
	Resynced bool // the kernel state was read back first
	// Drift is set when the read-back found the table differing from what
	// the driver had last written or read (someone else changed it);
	// never on the first read-back, which has nothing to compare with.
	Drift bool
	// Status is the state now in the kernel; set when Err is nil.
	Status *Status
}

// Driver keeps untrackd's table in line with the calculation graph's
// output. Its methods must be called from one goroutine (Run's).
type Driver struct {
	opts    Options
	log     *zap.Logger
	desired *desired
	// believed is what the kernel holds, as far as the driver knows; nil
	// when it must be read back before the next apply.
	believed *nft.TableState
	known    bool // believed is valid (nil believed + known = no table)
	// hadBelief is set once believed has been valid: after a failure it
	// is still what the kernel held before, to compare a read-back with.
	hadBelief bool
	// cache keeps the rendered policy and profile chains between applies.
	cache *render.Cache
}

// NewDriver returns a driver that writes through opts.Writer.
func NewDriver(opts Options) *Driver {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 30 * time.Second
	}
	return &Driver{opts: opts, log: opts.Log, desired: newDesired(), cache: render.NewCache()}
}

// OnUpdate records one message from the calculation graph. It does no I/O.
func (d *Driver) OnUpdate(m *proto.ToDataplane) { d.desired.record(m) }

// OnInterfaces records a snapshot of the host's interfaces. It does no I/O.
func (d *Driver) OnInterfaces(ifaces map[string][]netip.Addr) { d.desired.interfaces = ifaces }

// InSync reports whether the graph has sent its complete state.
func (d *Driver) InSync() bool { return d.desired.inSync }

// Apply makes the kernel match the desired state with one atomic
// transaction (preceded, when new sets bring many elements, by transactions
// that fill those sets before anything refers to them; see prefill). Before
// InSync it does nothing. On error the rules are unchanged (each
// transaction is atomic), and the next Apply reads the kernel back before
// planning, in case the error came from a wrong belief.
func (d *Driver) Apply(ctx context.Context) (ApplyResult, error) {
	var res ApplyResult
	if !d.desired.inSync {
		return res, nil
	}
	start := time.Now()
	d.desired.noteChanged()
	if d.known {
		return d.write(ctx, start, res, d.desired.changedSets)
	}
	st, err := d.opts.Writer.List(ctx)
	if err != nil {
		return res, fmt.Errorf("read table back: %w", err)
	}
	prev := d.believed
	d.believed, d.known, res.Resynced = st, true, true
	res.Drift = d.hadBelief && drifted(prev, st, d.desired.lastWritten(d.desired.elementSource()))
	d.hadBelief = true
	return d.write(ctx, start, res, nil) // compare every set with what the kernel holds
}

// write plans from the believed table, with the elements last written of
// the sets in check (nil: every set, from a read-back), and runs the
// transactions.
func (d *Driver) write(ctx context.Context, start time.Time, res ApplyResult, check map[string]bool) (ApplyResult, error) {
	want := render.RenderCached(d.opts.Render, d.desired.renderInput(), d.cache)
	have := d.believed
	if check != nil {
		have = withElements(have, d.desired.writtenElements())
	}
	fail := func(err error) (ApplyResult, error) {
		d.known = false
		res.Duration = time.Since(start)
		return res, err
	}
	elems := d.desired.elementSource()
	have, filled, ops, err := d.prefill(ctx, have, want, elems, d.desired.memberCounts())
	res.Ops += ops
	if err != nil {
		return fail(err)
	}
	if len(filled) > 0 {
		if check == nil {
			check = make(map[string]bool, len(want.Sets))
			for name := range want.Sets {
				check[name] = true
			}
		} else {
			check = maps.Clone(check)
		}
		for name := range filled {
			delete(check, name)
		}
	}
	tx := plan(have, want, elems, check)
	res.Ops += tx.Len()
	if tx.Len() > 0 {
		if err := d.opts.Writer.Run(ctx, tx); err != nil {
			return fail(fmt.Errorf("apply %d operations: %w", tx.Len(), err))
		}
	}
	d.believed = stateAfter(want)
	d.desired.markWritten()
	res.Duration = time.Since(start)
	res.Status = d.desired.status(d.believed)
	return res, nil
}

// withElements returns st with the elements of the sets in elems replaced
// (st itself is not changed).
func withElements(st *nft.TableState, elems map[string]elements) *nft.TableState {
	if st == nil || len(elems) == 0 {
		return st
	}
	c := &nft.TableState{Chains: st.Chains, Sets: maps.Clone(st.Sets)}
	for name, e := range elems {
		if s := c.Sets[name]; s != nil {
			c.Sets[name] = &nft.SetState{Set: s.Set, Elements: e.intervals, Tuples: e.tuples}
		}
	}
	return c
}

// Resync makes the next Apply read the kernel back first and correct any
// difference, however it arose.
func (d *Driver) Resync() { d.known = false }

// Run receives message batches from in and applies them until ctx is done.
// Batches that arrive while an apply is under way are recorded together
// before the next apply. A failed apply is retried with exponential backoff;
// it is logged, never returned. Run returns ctx.Err().
func (d *Driver) Run(ctx context.Context, in <-chan []*proto.ToDataplane) error {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var refresh <-chan time.Time
	if d.opts.RefreshInterval > 0 {
		t := time.NewTicker(d.opts.RefreshInterval)
		defer t.Stop()
		refresh = t.C
	}
	backoff := time.Duration(0)
	apply := func() {
		res, err := d.Apply(ctx)
		res.Err = err
		if d.opts.OnApply != nil && d.desired.inSync {
			d.opts.OnApply(res)
		}
		if err == nil {
			if backoff > 0 {
				d.log.Info("dataplane apply succeeded after failures")
			}
			backoff = 0
			retry.Stop()
			return
		}
		backoff = nextBackoff(backoff, d.opts.RetryMin, d.opts.RetryMax)
		d.log.Warn("dataplane apply failed; will retry", zap.Error(err), zap.Duration("retry_in", backoff))
		retry.Reset(backoff)
	}
	for {
		select {
		case <-ctx.Done():
			retry.Stop()
			return ctx.Err()
		case batch := <-in:
			d.record(batch)
			d.drain(in)
			if backoff == 0 { // while backing off, the retry timer applies
				apply()
			}
		case ifaces := <-d.opts.Interfaces:
			d.OnInterfaces(ifaces)
			if backoff == 0 {
				apply()
			}
		case <-retry.C:
			apply()
		case <-refresh:
			d.Resync()
			apply()
		case <-d.opts.KernelChanged:
			d.Resync()
			apply()
		}
	}
}

func (d *Driver) record(batch []*proto.ToDataplane) {
	for _, m := range batch {
		d.OnUpdate(m)
	}
}

// drain records every batch already waiting, without blocking.
func (d *Driver) drain(in <-chan []*proto.ToDataplane) {
	for {
		select {
		case batch := <-in:
			d.record(batch)
		default:
			return
		}
	}
}

// nextBackoff doubles the delay within [min, max] with ±20% jitter.
func nextBackoff(cur, min, max time.Duration) time.Duration {
	next := cur * 2
	if next < min {
		next = min
	}
	if next > max {
		next = max
	}
	jitter := time.Duration(float64(next) * (0.8 + 0.4*rand.Float64()))
	return jitter
}
