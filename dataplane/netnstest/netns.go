// Package netnstest provides helpers for tests that need the real kernel:
// throwaway network namespaces, veth links between them, commands and
// sockets inside them, and conntrack inspection.
//
// Every namespace New creates is removed in t.Cleanup, together with the
// processes started in it through Start. Nothing here touches the root
// namespace's links, addresses or nftables ruleset: veth pairs are created
// directly inside the test namespaces.
//
// Tests using this package need root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and the
// `ip` command; call RequireRoot first, it skips the test otherwise.
package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// cmdTimeout bounds every command Exec runs.
const cmdTimeout = 2 * time.Minute

var (
	probeOnce sync.Once
	probeErr  error
)

// RequireRoot skips the test unless the process is root and `ip netns add`
// works (it creates and deletes a probe namespace once per process).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("netnstest: skipping kernel test: needs root (network namespaces, nftables)")
	}
	probeOnce.Do(func() {
		if _, err := exec.LookPath("ip"); err != nil {
			probeErr = fmt.Errorf("the ip command is missing: %w", err)
			return
		}
		name := uniqueName("probe")
		if out, err := run("ip", "netns", "add", name); err != nil {
			probeErr = fmt.Errorf("ip netns add: %v: %s", err, out)
			return
		}
		if out, err := run("ip", "netns", "del", name); err != nil {
			probeErr = fmt.Errorf("ip netns del: %v: %s", err, out)
		}
	})
	if probeErr != nil {
		t.Skipf("netnstest: skipping kernel test: network namespaces unusable: %v", probeErr)
	}
}

// NS is a throwaway network namespace created by New. Its methods may be
// called from several goroutines.
type NS struct {
	Name string

	mu    sync.Mutex
	procs []*startedProc
}

// New creates a namespace named prefix plus a random suffix (unique across
// parallel test processes), brings its loopback up, and registers its
// removal with t.Cleanup: processes started with Start are killed, then the
// namespace is deleted.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	ns := &NS{Name: uniqueName(prefix)}
	if out, err := run("ip", "netns", "add", ns.Name); err != nil {
		t.Fatalf("netnstest: ip netns add %s: %v: %s", ns.Name, err, out)
	}
	t.Cleanup(func() { ns.cleanup(t) })
	ns.MustExec(t, "ip", "link", "set", "lo", "up")
	return ns
}

// uniqueName returns prefix-<10 random hex digits>, sanitised for use as a
// namespace (file) name.
func uniqueName(prefix string) string {
	prefix = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, prefix)
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

func (ns *NS) cleanup(t testing.TB) {
	ns.mu.Lock()
	procs := ns.procs
	ns.procs = nil
	ns.mu.Unlock()
	for _, p := range procs {
		p.stop()
		if t.Failed() && p.out.Len() > 0 {
			t.Logf("netnstest: output of %s in %s:\n%s", p.desc, ns.Name, p.out.String())
		}
	}
	// Processes still inside the namespace were started by this test (for
	// example a backgrounded shell command); end them by id so the
	// namespace really goes away.
	if out, err := run("ip", "netns", "pids", ns.Name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				t.Logf("netnstest: killing leftover process %d in %s", pid, ns.Name)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if out, err := run("ip", "netns", "del", ns.Name); err != nil {
		t.Errorf("netnstest: ip netns del %s: %v: %s", ns.Name, err, out)
	}
}

// run runs a command (outside any namespace) with the standard timeout and
// returns its combined output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// Exec runs `ip netns exec <ns> name args...` and returns its combined
// output. It is bounded by a two-minute timeout.
func (ns *NS) Exec(name string, args ...string) (string, error) {
	return run("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// MustExec is Exec that fails the test on error.
func (ns *NS) MustExec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := ns.Exec(name, args...)
	if err != nil {
		t.Fatalf("netnstest: in %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return out
}

type startedProc struct {
	desc string
	cmd  *exec.Cmd
	out  *limitedBuffer
	done chan struct{}
}

func (p *startedProc) stop() {
	// The process runs in its own process group; kill the whole group
	// (only processes this test started).
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// Start starts `name args...` in the namespace in the background, in its
// own process group, with stdout and stderr captured (and logged at cleanup
// if the test failed). The process group is killed at cleanup. The caller
// may Wait on the returned command only if it does not expect cleanup to
// reap it; normally it should just leave it running.
func (ns *NS) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	out := &limitedBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("netnstest: start %s in %s: %v", name, ns.Name, err)
	}
	p := &startedProc{desc: name + " " + strings.Join(args, " "), cmd: cmd, out: out, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	ns.mu.Lock()
	ns.procs = append(ns.procs, p)
	ns.mu.Unlock()
	return cmd
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *limitedBuffer) Len() int { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.Len() }

func (b *limitedBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// Do runs fn on a locked OS thread switched into the namespace and
// switches the thread back afterwards. fn must not start goroutines that
// expect to be in the namespace (they run on other threads), but sockets it
// creates stay in the namespace and may be used from anywhere afterwards.
// If the thread cannot be switched back, it is left locked so the runtime
// discards it when the goroutine exits.
func (ns *NS) Do(fn func() error) error {
	var err error
	done := make(chan struct{})
	// A fresh goroutine: if restoring the thread fails, returning from it
	// while still locked terminates the thread instead of leaking a
	// namespaced thread into the scheduler.
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, e := netns.Get()
		if e != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("netnstest: current netns: %w", e)
			return
		}
		defer orig.Close()
		target, e := netns.GetFromName(ns.Name)
		if e != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("netnstest: open netns %s: %w", ns.Name, e)
			return
		}
		defer target.Close()
		if e := netns.Set(target); e != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("netnstest: enter netns %s: %w", ns.Name, e)
			return
		}
		err = callSafely(fn)
		if e := netns.Set(orig); e != nil {
			// Stay locked: the thread dies with this goroutine.
			if err == nil {
				err = fmt.Errorf("netnstest: restore netns: %w", e)
			}
			return
		}
		runtime.UnlockOSThread()
	}()
	<-done
	return err
}

// callSafely calls fn and turns a panic into an error, so Do always gets
// to restore the thread.
func callSafely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("netnstest: panic in Do: %v", r)
		}
	}()
	return fn()
}

// FD returns a read-only file descriptor of the namespace, for APIs such as
// nftables.WithNetNSFd; it is closed at cleanup.
func (ns *NS) FD(t testing.TB) int {
	t.Helper()
	fd, err := unix.Open("/run/netns/"+ns.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("netnstest: open netns %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { _ = unix.Close(fd) })
	return fd
}

// Link creates a veth pair with end aIf in a and end bIf in b, adds the
// addresses (CIDR strings, IPv4 or IPv6; IPv6 ones without duplicate
// address detection, so they are usable at once) and brings both ends up.
// It waits (bounded) until both ends report carrier.
func Link(t testing.TB, a *NS, aIf string, aAddrs []string, b *NS, bIf string, bAddrs []string) {
	t.Helper()
	if out, err := run("ip", "-n", a.Name, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		t.Fatalf("netnstest: veth %s/%s between %s and %s: %v: %s", aIf, bIf, a.Name, b.Name, err, out)
	}
	for _, end := range []struct {
		ns    *NS
		ifc   string
		addrs []string
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		// DAD off for the interface, also for its link-local address.
		_, _ = run("ip", "netns", "exec", end.ns.Name, "sysctl", "-qw", "net.ipv6.conf."+end.ifc+".accept_dad=0")
		for _, addr := range end.addrs {
			args := []string{"-n", end.ns.Name, "addr", "add", addr, "dev", end.ifc}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			if out, err := run("ip", args...); err != nil {
				t.Fatalf("netnstest: ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		if out, err := run("ip", "-n", end.ns.Name, "link", "set", end.ifc, "up"); err != nil {
			t.Fatalf("netnstest: link %s up in %s: %v: %s", end.ifc, end.ns.Name, err, out)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, end := range []struct {
		ns  *NS
		ifc string
	}{{a, aIf}, {b, bIf}} {
		for {
			out, _ := run("ip", "-n", end.ns.Name, "-o", "link", "show", end.ifc)
			if strings.Contains(out, "LOWER_UP") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("netnstest: %s in %s has no carrier: %s", end.ifc, end.ns.Name, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

var flowCount = regexp.MustCompile(`(\d+) flow entries have been shown`)

// ConntrackCount returns the number of entries `conntrack -L args...` lists
// in the namespace, e.g. ConntrackCount(t, "-p", "tcp", "--dport", "80").
func (ns *NS) ConntrackCount(t testing.TB, args ...string) int {
	t.Helper()
	out, err := ns.Exec("conntrack", append([]string{"-L"}, args...)...)
	m := flowCount.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("netnstest: conntrack -L %s in %s: %v\n%s", strings.Join(args, " "), ns.Name, err, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
