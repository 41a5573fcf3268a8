// Package ifacemon watches the host's network interfaces and addresses with
// netlink and reports them as snapshots: interface name → addresses.
//
// untrackd matches interfaces by name in its rules, so an interface that
// appears later, goes down or comes back needs no change. What does depend
// on the interface list is a host endpoint that gives only expectedIPs: it
// governs the interface holding one of those addresses, which can appear,
// move or go away at any time.
package ifacemon

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
)

// debounce coalesces bursts of netlink events (an interface coming up
// brings several) into one snapshot.
const debounce = 50 * time.Millisecond

// Snapshot maps interface names to their addresses, sorted.
type Snapshot = map[string][]netip.Addr

// Watch sends the current snapshot on out, then a new one whenever links
// or addresses change, until ctx is done. It re-lists everything on each
// change (the lists are small) rather than patching, so it never drifts.
// It returns ctx.Err() when ctx ends, or an error if netlink cannot be
// subscribed to; it never closes out.
func Watch(ctx context.Context, out chan<- Snapshot, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	done := make(chan struct{})
	defer close(done)
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	errs := make(chan error, 2)
	onErr := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe to link changes: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribe to address changes: %w", err)
	}
	var last Snapshot
	timer := time.NewTimer(0) // list once at start
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			// A lost event: re-list soon; the subscription itself goes on.
			log.Warn("netlink interface monitor reported an error; re-listing", zap.Error(err))
			timer.Reset(debounce)
		case <-links:
			timer.Reset(debounce)
		case <-addrs:
			timer.Reset(debounce)
		case <-timer.C:
			snap, err := List()
			if err != nil {
				log.Warn("could not list interfaces; will retry", zap.Error(err))
				timer.Reset(time.Second)
				continue
			}
			if last != nil && equal(last, snap) {
				continue
			}
			last = snap
			select {
			case out <- snap:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// List returns the current snapshot.
func List() (Snapshot, error) {
	ls, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	snap := make(Snapshot, len(ls))
	for _, l := range ls {
		as, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
		}
		var addrs []netip.Addr
		for _, a := range as {
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				addrs = append(addrs, ip.Unmap())
			}
		}
		slices.SortFunc(addrs, netip.Addr.Compare)
		snap[l.Attrs().Name] = addrs
	}
	return snap, nil
}

func equal(a, b Snapshot) bool {
	return maps.EqualFunc(a, b, func(x, y []netip.Addr) bool { return slices.Equal(x, y) })
}
