package nft

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane/netnstest"
)

// kernelNetlink returns a Netlink working in a fresh namespace (skipping the
// test unless root), closed at cleanup.
func kernelNetlink(t *testing.T) (*Netlink, *netnstest.NS) {
	t.Helper()
	netnstest.RequireRoot(t)
	ns := netnstest.New(t, "utnft")
	n, err := NewNetlink(WithNetNS(ns.FD(t)))
	if err != nil {
		t.Fatalf("NewNetlink: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n, ns
}

func nlCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func nlRun(t *testing.T, w Writer, tx *Transaction) {
	t.Helper()
	if err := w.Run(nlCtx(t), tx); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func nlList(t *testing.T, w Writer) *TableState {
	t.Helper()
	st, err := w.List(nlCtx(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return st
}

func nlOpIndex(err error) int {
	var oe *OpError
	if errors.As(err, &oe) {
		return oe.Index
	}
	return -1
}

func nlPfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func nlAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func nlIv(first, last string) Interval { return Interval{First: nlAddr(first), Last: nlAddr(last)} }

// nlTCP is "meta l4proto tcp".
var nlTCP = L4Proto{Proto: 6}

var nlV4, nlV6 = NFProto{Family: IPv4}, NFProto{Family: IPv6}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
