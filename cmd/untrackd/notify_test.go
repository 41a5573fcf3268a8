package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/proto"
)

// notifySocket listens on a unixgram socket in a temporary directory, as
// systemd's notification socket, and returns its path and the messages.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return path, msgs
}

func expectMessage(t *testing.T, msgs <-chan string, want string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, want) {
				return m
			}
		case <-deadline:
			t.Fatalf("no notification containing %q within %v", want, within)
			return ""
		}
	}
}

func TestNotifier(t *testing.T) {
	path, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "100000") // 100ms: pings every 50ms
	n := newNotifier(zaptest.NewLogger(t))
	n.ready("in sync; 1 local host endpoints")
	if m := expectMessage(t, msgs, "READY=1", time.Second); !strings.Contains(m, "STATUS=in sync; 1 local host endpoints") {
		t.Errorf("ready message %q", m)
	}

	var live atomic.Bool
	live.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.watchdog(ctx, func() (bool, []string) { return live.Load(), []string{"stuck"} }) }()
	expectMessage(t, msgs, "WATCHDOG=1", time.Second)
	live.Store(false)
	time.Sleep(120 * time.Millisecond) // let a ping that was under way arrive
	for len(msgs) > 0 {
		<-msgs
	}
	select {
	case m := <-msgs:
		t.Errorf("pinged while not live: %q", m)
	case <-time.After(300 * time.Millisecond):
	}
	live.Store(true)
	expectMessage(t, msgs, "WATCHDOG=1", time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.stopping()
	expectMessage(t, msgs, "STOPPING=1", time.Second)
}

func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	n := newNotifier(zaptest.NewLogger(t))
	n.ready("x") // no socket: nothing happens
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := n.watchdog(ctx, func() (bool, []string) { return true, nil }); err != nil || time.Since(start) > 500*time.Millisecond {
		t.Errorf("watchdog without systemd: %v after %v, want an immediate return", err, time.Since(start))
	}
}

// TestRelayHeartbeat checks that the relay forwards batches, sends empty
// batches only after the first one, and records hand-overs.
func TestRelayHeartbeat(t *testing.T) {
	clk := newFakeClock()
	m := newMonitor(clk.Now, time.Minute)
	in, out := make(chan []*proto.ToDataplane), make(chan []*proto.ToDataplane)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = relay(ctx, in, out, m, 20*time.Millisecond) }()

	select {
	case b := <-out:
		t.Fatalf("heartbeat %v before the first batch", b)
	case <-time.After(100 * time.Millisecond):
	}
	batch := []*proto.ToDataplane{{}}
	in <- batch
	if got := <-out; len(got) != 1 {
		t.Fatalf("forwarded %v", got)
	}
	if got := <-out; got == nil || len(got) != 0 {
		t.Fatalf("heartbeat %v, want an empty batch", got)
	}
	// A driver that does not take the batch shows as a pending hand-over.
	time.Sleep(60 * time.Millisecond)
	clk.Advance(2 * time.Minute)
	if ok, why := m.live(); ok || !strings.Contains(strings.Join(why, ""), "has not taken a batch") {
		t.Errorf("live %v %v with a driver not receiving", ok, why)
	}
	<-out
	for deadline := time.Now().Add(time.Second); ; time.Sleep(time.Millisecond) {
		ok, why := m.live()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not live after the hand-over: %v", why)
		}
	}
}
