package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
)

// cmdTimeout bounds every command Exec runs.
const cmdTimeout = 2 * time.Minute

// NS is a network namespace the benchmark created (ip netns add) and
// deletes at the end, with the processes it started in it.
type NS struct {
	Name string
}

// NewNS creates the namespace, after removing a leftover of the same name
// from an interrupted run (killing the processes inside it first), and
// brings its loopback up.
func NewNS(name string) (*NS, error) {
	ns := &NS{Name: name}
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		ns.Delete()
	}
	if out, err := Run("ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	if _, err := ns.Exec("ip", "link", "set", "lo", "up"); err != nil {
		ns.Delete()
		return nil, err
	}
	return ns, nil
}

// Delete kills the processes still in the namespace (all of them were
// started by this benchmark: the namespace is its own) and removes it.
func (ns *NS) Delete() {
	if out, err := Run("ip", "netns", "pids", ns.Name); err == nil {
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for i := 0; i < 20; i++ {
		if _, err := Run("ip", "netns", "del", ns.Name); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Run runs a command outside any namespace, bounded by two minutes, and
// returns its combined output.
func Run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Exec runs a command inside the namespace (ip netns exec).
func (ns *NS) Exec(name string, args ...string) (string, error) {
	return Run("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Sysctl sets a per-namespace sysctl inside the namespace.
func (ns *NS) Sysctl(key, value string) error {
	_, err := ns.Exec("sysctl", "-qw", key+"="+value)
	return err
}

// Do runs fn on an OS thread switched into the namespace. Sockets fn
// creates stay in the namespace and may be used from any goroutine
// afterwards. The thread is never returned to the scheduler: it ends with
// the goroutine.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		target, err := netns.GetFromName(ns.Name)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Link joins namespaces a and b with a veth pair (aIf in a, bIf in b),
// adds the IPv4 addresses (CIDR strings) and brings both ends up.
func Link(a *NS, aIf string, aAddrs []string, b *NS, bIf string, bAddrs []string) error {
	if _, err := Run("ip", "-n", a.Name, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		return err
	}
	for _, end := range []struct {
		ns    *NS
		ifc   string
		addrs []string
	}{{a, aIf, aAddrs}, {b, bIf, bAddrs}} {
		for _, addr := range end.addrs {
			if _, err := Run("ip", "-n", end.ns.Name, "addr", "add", addr, "dev", end.ifc); err != nil {
				return err
			}
		}
		if _, err := Run("ip", "-n", end.ns.Name, "link", "set", end.ifc, "up"); err != nil {
			return err
		}
	}
	return nil
}

// Proc is a process started in a namespace, in its own process group.
type Proc struct {
	Cmd  *exec.Cmd
	out  *lineBuffer
	done chan struct{}
	err  error
}

// Start starts name args... in the namespace. Its output is kept (the last
// 256 KiB) and each line is also passed to onLine, if set, from one
// goroutine.
func (ns *NS) Start(onLine func(string), name string, args ...string) (*Proc, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	lb := &lineBuffer{max: 256 << 10, onLine: onLine}
	cmd.Stdout, cmd.Stderr = lb, lb
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in %s: %w", name, ns.Name, err)
	}
	p := &Proc{Cmd: cmd, out: lb, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id (ip netns exec execs the command in place).
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, valid after Done.
func (p *Proc) Err() error { return p.err }

// Output returns the output kept so far.
func (p *Proc) Output() string { return p.out.String() }

// Tail returns the last n lines of output.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.out.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop sends sig to the process group, waits up to grace for the exit, then
// kills the group. It is idempotent.
func (p *Proc) Stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, sig)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// lineBuffer keeps the tail of what is written to it and hands complete
// lines to onLine.
type lineBuffer struct {
	mu      sync.Mutex
	max     int
	buf     bytes.Buffer
	partial []byte
	onLine  func(string)
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	if b.onLine != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			line := string(b.partial[:i])
			b.partial = b.partial[i+1:]
			b.onLine(line)
		}
	}
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
