package dataplane

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// TestKernelChangedRepairsAtOnce runs the driver's loop with no periodic
// refresh and checks that a notice on Options.KernelChanged makes it read
// the table back and repair it, with one apply per notice and none without.
func TestKernelChangedRepairsAtOnce(t *testing.T) {
	f := nft.NewFake()
	changed := make(chan struct{}, 1)
	var mu sync.Mutex
	var results []ApplyResult
	d := NewDriver(Options{Writer: f, Render: render.DefaultConfig(), KernelChanged: changed, OnApply: func(r ApplyResult) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}})
	applies := func() []ApplyResult {
		mu.Lock()
		defer mu.Unlock()
		return append([]ApplyResult(nil), results...)
	}
	waitApplies := func(n int) []ApplyResult {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for len(applies()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d applies, want %d", len(applies()), n)
			}
			time.Sleep(time.Millisecond)
		}
		return applies()
	}
	ctx, cancel := context.WithCancel(context.Background())
	in := make(chan []*proto.ToDataplane)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, in) }()
	defer func() {
		cancel()
		<-done
	}()
	in <- seed
	waitApplies(1)
	dump := f.Dump()

	tamper := &nft.Transaction{}
	tamper.FlushChain("pol-untracked-in-memcached-server")
	if err := f.Run(context.Background(), tamper); err != nil {
		t.Fatal(err)
	}
	changed <- struct{}{}
	rs := waitApplies(2)
	if r := rs[1]; r.Err != nil || !r.Resynced || !r.Drift || r.Ops == 0 {
		t.Fatalf("apply after the notice: %+v", r)
	}
	if f.Dump() != dump {
		t.Fatalf("not repaired:\n%s", diffLines(dump, f.Dump()))
	}
	// A notice with nothing changed reads back and writes nothing.
	n := len(f.Transactions)
	changed <- struct{}{}
	rs = waitApplies(3)
	if r := rs[2]; r.Err != nil || !r.Resynced || r.Drift || r.Ops != 0 || len(f.Transactions) != n {
		t.Fatalf("apply after a notice without a change: %+v, %d transactions (was %d)", r, len(f.Transactions), n)
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(applies()); got != 3 {
		t.Fatalf("%d applies without notices or updates, want 3", got)
	}
}

// TestDriftNotAfterFailure checks that the read-back after a failed apply,
// which writes the change that failed, is not taken for someone else's
// change, and that the first read-back (taking over a table) is not either.
func TestDriftNotAfterFailure(t *testing.T) {
	f := nft.NewFake()
	d := NewDriver(Options{Writer: f, Render: render.DefaultConfig()})
	ctx := context.Background()
	d.record(seed)
	r, err := d.Apply(ctx)
	if err != nil || !r.Resynced || r.Drift {
		t.Fatalf("first apply: %+v, %v", r, err)
	}
	d.record([]*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.202/32"}, nil)})
	f.FailNext(errors.New("EBUSY"))
	if _, err := d.Apply(ctx); err == nil {
		t.Fatal("the injected failure was not reported")
	}
	r, err = d.Apply(ctx)
	if err != nil || !r.Resynced || r.Drift || r.Ops == 0 {
		t.Fatalf("retry after the failure: %+v, %v (want a read-back, the change written, no drift)", r, err)
	}
}

// TestDriftInSetElements checks that a read-back notices a set whose
// elements someone else changed (the driver keeps no copy of them; it
// compares with the elements its members give), and one that a change
// pending since the last write would explain does not count.
func TestDriftInSetElements(t *testing.T) {
	f := nft.NewFake()
	d := NewDriver(Options{Writer: f, Render: render.DefaultConfig()})
	ctx := context.Background()
	d.record(seed)
	if _, err := d.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	dump := f.Dump()
	tamper := &nft.Transaction{}
	tamper.DeleteElements("s4-clients", []nft.Interval{nft.PrefixInterval(netip.MustParsePrefix("10.128.0.200/32"))})
	if err := f.Run(ctx, tamper); err != nil {
		t.Fatal(err)
	}
	d.Resync()
	r, err := d.Apply(ctx)
	if err != nil || !r.Drift || r.Ops == 0 || f.Dump() != dump {
		t.Fatalf("after an element was deleted behind its back: %+v, %v", r, err)
	}
	// A member added (not yet written) and a read-back: no drift.
	d.record([]*proto.ToDataplane{ipsetDelta("clients", []string{"10.128.0.202/32"}, nil)})
	d.Resync()
	r, err = d.Apply(ctx)
	if err != nil || r.Drift || r.Ops == 0 {
		t.Fatalf("read-back with a change pending: %+v, %v", r, err)
	}
	if got := r.Status.SetElements; got != 6 {
		t.Errorf("Status.SetElements = %d, want 6", got)
	}
}
