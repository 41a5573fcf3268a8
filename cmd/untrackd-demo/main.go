// Command untrackd-demo runs the README's quick start on this machine, in
// two throwaway network namespaces: a memcached-style server host whose
// interface is eth0, as in the seed guide, and a client host. It starts
// untrackd in the server namespace on its embedded etcd, writes the seed
// guide's HostEndpoint and doNotTrack GlobalNetworkPolicy with plain
// "etcdctl put", and shows conntrack's entries for the same burst of short
// connections before and after.
//
// It needs root, and the nft, conntrack, etcdctl and ip commands (Debian:
// apt-get install nftables conntrack etcd-client iproute2). Everything it
// creates is removed at the end, also on Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	serverNS = "utdemo-server"
	clientNS = "utdemo-client"
	serverIP = "10.128.0.162" // the seed guide's expectedIPs
	clientIP = "10.128.0.200"
	port     = 12211 // the seed guide's memcached port
	ctrlPort = 12212 // a port no policy mentions
	keyBase  = "/calico/resources/v3/projectcalico.org/"
)

// The seed guide's resources, as Calico stores them in etcd.
var resources = []struct{ key, value string }{
	{keyBase + "hostendpoints/memcached-node-1-eth0",
		`{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["` + serverIP + `"]}}`},
	{keyBase + "hostendpoints/memcached-client-1-eth0",
		`{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-client-1-eth0","labels":{"memcached":"client"}},"spec":{"interfaceName":"eth0","node":"memcached-client-1","expectedIPs":["` + clientIP + `"]}}`},
	// A host endpoint denies everything no policy allows (failsafe ports
	// excepted); this ordinary, tracked policy keeps the host's other
	// traffic flowing as before.
	{keyBase + "globalnetworkpolicies/allow-everything-else",
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"allow-everything-else"},"spec":{"order":1000,"selector":"memcached == 'server'","types":["Ingress","Egress"],"ingress":[{"action":"Allow"}],"egress":[{"action":"Allow"}]}}`},
	{keyBase + "globalnetworkpolicies/memcached-server",
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server"},"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}]}}`},
}

func main() {
	untrackd := flag.String("untrackd", "bin/untrackd", "path of the untrackd binary")
	conns := flag.Int("connections", 500, "short connections per measurement")
	keep := flag.Bool("keep", false, "leave the namespaces and untrackd running at the end")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d := &demo{untrackd: *untrackd, conns: *conns}
	err := d.run(ctx)
	if !*keep || err != nil {
		d.cleanup()
	} else {
		fmt.Printf("\nLeft running. Remove with: ip netns pids %s | xargs -r kill; ip netns del %s; ip netns del %s\n", serverNS, serverNS, clientNS)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

type demo struct {
	untrackd string
	conns    int
	dir      string
	daemon   *exec.Cmd
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

// sh runs a command, echoing it, and returns its output.
func sh(echo bool, name string, args ...string) (string, error) {
	if echo {
		fmt.Printf("    $ %s %s\n", name, strings.Join(quoteAll(args), " "))
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " {}'\"*") {
			out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			out[i] = a
		}
	}
	return out
}

func inNS(ns string, echo bool, name string, args ...string) (string, error) {
	return sh(echo, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

func (d *demo) run(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces and nftables)")
	}
	for _, tool := range []string{"ip", "nft", "conntrack", "etcdctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found; on Debian: apt-get install iproute2 nftables conntrack etcd-client", tool)
		}
	}
	bin, err := filepath.Abs(d.untrackd)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("untrackd binary: %w (run make build)", err)
	}
	d.cleanup() // leftovers of an interrupted run
	if d.dir, err = os.MkdirTemp("", "untrackd-demo-"); err != nil {
		return err
	}

	step("Two hosts: %s (%s on eth0) and %s (%s on eth0), joined by a veth pair", serverNS, serverIP, clientNS, clientIP)
	if err := d.hosts(); err != nil {
		return err
	}
	step("A stand-in for the host's stateful firewall, so the server's conntrack is in use")
	for _, c := range []string{
		"add table inet demo-firewall",
		"add chain inet demo-firewall input { type filter hook input priority 10 ; policy accept ; }",
		"add rule inet demo-firewall input ct state established,related accept",
	} {
		if _, err := inNS(serverNS, true, "nft", strings.Fields(c)...); err != nil {
			return err
		}
	}
	srv, err := serve(serverNS, fmt.Sprintf("%s:%d", serverIP, port), fmt.Sprintf("%s:%d", serverIP, ctrlPort))
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("    a memcached-like server answers \"version\" on %s:%d and %s:%d\n", serverIP, port, serverIP, ctrlPort)

	step("untrackd in the server namespace, on its embedded etcd (127.0.0.1:2379 there)")
	if err := d.startDaemon(bin); err != nil {
		return err
	}
	if err := waitFor(ctx, 60*time.Second, func() bool {
		_, err := inNS(serverNS, false, "etcdctl", "--endpoints=127.0.0.1:2379", "endpoint", "health")
		return err == nil
	}); err != nil {
		return fmt.Errorf("etcd did not come up: %w; log: %s", err, d.logTail())
	}

	step("Before any policy: %d short connections to port %d", d.conns, port)
	if err := d.measure(ctx, port); err != nil {
		return err
	}

	step("The seed guide's resources, and a normal policy for everything else, written with plain etcdctl put")
	for _, r := range resources {
		if _, err := inNS(serverNS, true, "etcdctl", "--endpoints=127.0.0.1:2379", "put", r.key, r.value); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := waitFor(ctx, 10*time.Second, func() bool {
		out, _ := inNS(serverNS, false, "nft", "list", "table", "inet", "untrackd")
		return strings.Contains(out, "pol-untracked-out-memcached-server") && strings.Contains(out, clientIP)
	}); err != nil {
		return fmt.Errorf("policy not programmed: %w; log: %s", err, d.logTail())
	}
	fmt.Printf("    programmed within %v (including polling with nft)\n", time.Since(start).Round(time.Millisecond))

	step("After: the same %d connections to port %d, and to port %d, which only the ordinary policy allows", d.conns, port, ctrlPort)
	if err := d.measure(ctx, port); err != nil {
		return err
	}
	if err := d.measure(ctx, ctrlPort); err != nil {
		return err
	}

	step("What untrackd programmed")
	out, err := inNS(serverNS, true, "nft", "list", "table", "inet", "untrackd")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "memcached") || strings.Contains(line, "chain") || strings.Contains(line, "elements") {
			fmt.Println("    " + line)
		}
	}
	fmt.Printf("\nDone: traffic to port %d is allowed without conntrack entries; everything else is tracked as before.\n", port)
	return nil
}

func (d *demo) hosts() error {
	cmds := [][]string{
		{"ip", "netns", "add", serverNS},
		{"ip", "netns", "add", clientNS},
		{"ip", "-n", serverNS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", clientNS},
		{"ip", "-n", serverNS, "addr", "add", serverIP + "/24", "dev", "eth0"},
		{"ip", "-n", clientNS, "addr", "add", clientIP + "/24", "dev", "eth0"},
		{"ip", "-n", serverNS, "link", "set", "eth0", "up"},
		{"ip", "-n", clientNS, "link", "set", "eth0", "up"},
		{"ip", "-n", serverNS, "link", "set", "lo", "up"},
		{"ip", "-n", clientNS, "link", "set", "lo", "up"},
		// Many short connections from one client: reuse ports quickly.
		{"ip", "netns", "exec", clientNS, "sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"},
	}
	for _, c := range cmds {
		if _, err := sh(true, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) startDaemon(bin string) error {
	logf, err := os.Create(filepath.Join(d.dir, "untrackd.log"))
	if err != nil {
		return err
	}
	args := []string{"netns", "exec", serverNS, bin, "--embedded-etcd-dir", filepath.Join(d.dir, "etcd"), "--node-name", "memcached-node-1"}
	fmt.Printf("    $ ip %s   (log: %s)\n", strings.Join(args, " "), logf.Name())
	d.daemon = exec.Command("ip", args...)
	d.daemon.Stdout, d.daemon.Stderr = logf, logf
	return d.daemon.Start()
}

func (d *demo) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "untrackd.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n" + strings.Join(lines, "\n")
}

// measure flushes the server's conntrack table, opens the demo's burst of
// connections to port p, and reports failures and conntrack entries.
func (d *demo) measure(ctx context.Context, p int) error {
	if _, err := inNS(serverNS, false, "conntrack", "-F"); err != nil {
		return err
	}
	ok, failed, took, err := burst(ctx, clientNS, fmt.Sprintf("%s:%d", serverIP, p), d.conns)
	if err != nil {
		return err
	}
	out, _ := inNS(serverNS, false, "conntrack", "-L", "-p", "tcp", "--dport", fmt.Sprint(p))
	entries := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "tcp") {
			entries++
		}
	}
	fmt.Printf("    port %d: %d connections succeeded, %d failed in %v; server conntrack entries for the port: %d\n",
		p, ok, failed, took.Round(time.Millisecond), entries)
	return nil
}

func (d *demo) cleanup() {
	if d.daemon != nil && d.daemon.Process != nil {
		_ = d.daemon.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = d.daemon.Process.Kill()
		}
		d.daemon = nil
	}
	for _, ns := range []string{serverNS, clientNS} {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			continue
		}
		if out, _ := exec.Command("ip", "netns", "pids", ns).Output(); len(out) > 0 {
			for _, pid := range strings.Fields(string(out)) {
				_ = exec.Command("kill", "-9", pid).Run()
			}
		}
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
	if d.dir != "" {
		_ = os.RemoveAll(d.dir)
		d.dir = ""
	}
}

func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
