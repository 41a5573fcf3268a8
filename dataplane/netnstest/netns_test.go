package netnstest

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func netnsInode(t testing.TB) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNamespaceLifecycle(t *testing.T) {
	RequireRoot(t)
	var name string
	var pid int
	t.Run("inner", func(t *testing.T) {
		ns := New(t, "utnstest")
		name = ns.Name
		if _, err := os.Stat("/run/netns/" + name); err != nil {
			t.Fatalf("namespace file: %v", err)
		}
		if out := ns.MustExec(t, "ip", "-o", "link", "show", "lo"); !strings.Contains(out, "UP") {
			t.Errorf("lo not up: %s", out)
		}
		cmd := ns.Start(t, "sleep", "300")
		pid = cmd.Process.Pid

		root := netnsInode(t)
		var inside uint64
		if err := ns.Do(func() error { inside = netnsInode(t); return nil }); err != nil {
			t.Fatal(err)
		}
		if inside == root || inside == 0 {
			t.Errorf("Do did not switch namespaces (%d vs root %d)", inside, root)
		}
		if netnsInode(t) != root {
			t.Errorf("the calling thread left the root namespace")
		}
		if err := ns.Do(func() error { return errors.New("boom") }); err == nil || err.Error() != "boom" {
			t.Errorf("Do error = %v", err)
		}
		if err := ns.Do(func() error { panic("oops") }); err == nil {
			t.Errorf("Do swallowed a panic")
		}
		if _, err := ns.Exec("false"); err == nil {
			t.Errorf("Exec of false succeeded")
		}
	})
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s not removed: %v", name, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("process %d started in the namespace still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLinkAndSockets(t *testing.T) {
	RequireRoot(t)
	a, b := New(t, "uta"), New(t, "utb")
	Link(t, a, "veth-a", []string{"10.98.0.1/24", "fd98::1/64"}, b, "veth-b", []string{"10.98.0.2/24", "fd98::2/64"})
	b.TCPServe(t, "10.98.0.2:7000")
	b.TCPServe(t, "[fd98::2]:7000")
	b.UDPServe(t, "10.98.0.2:7001")
	for _, addr := range []string{"10.98.0.2:7000", "[fd98::2]:7000"} {
		if err := a.TCPConnect(addr, 5*time.Second); err != nil {
			t.Errorf("TCPConnect %s: %v", addr, err)
		}
	}
	if err := a.TCPConnectFrom("10.98.0.1", "10.98.0.2:7000", 5*time.Second); err != nil {
		t.Errorf("TCPConnectFrom: %v", err)
	}
	if err := a.UDPExchange("10.98.0.2:7001", 5*time.Second); err != nil {
		t.Errorf("UDPExchange: %v", err)
	}
	// Nothing listens in a on that address: the namespaces are separate.
	if err := b.TCPConnect("10.98.0.1:7000", time.Second); err == nil {
		t.Errorf("connected to a port nobody listens on")
	}

	// Conntrack tracks once some rule uses it.
	b.MustExec(t, "nft", "add table inet t; add chain inet t c { type filter hook input priority 0; }; add rule inet t c ct state new counter")
	if err := a.TCPConnect("10.98.0.2:7000", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := b.ConntrackCount(t, "-p", "tcp", "--dport", "7000"); n < 1 {
		t.Errorf("ConntrackCount = %d, want at least 1", n)
	}
	if n := a.ConntrackCount(t); n != 0 {
		t.Errorf("ConntrackCount in the rule-less namespace = %d, want 0", n)
	}
}
