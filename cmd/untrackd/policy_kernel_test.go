package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/untrackd/untrackd/dataplane/netnstest"
)

// Feature tests of host-endpoint policy with real packets: each builds the
// generated world's namespaces (kernelworld_test.go) or the end-to-end
// testbed, programs policy (in-process, or through the daemon and its etcd),
// and checks connections and conntrack entries.

const (
	// okTimeout bounds an exchange that must succeed; blockedTimeout one
	// that must fail (a dropped SYN is never answered).
	okTimeout      = 3 * time.Second
	blockedTimeout = 400 * time.Millisecond
)

// hostIfaces are the host namespace's interfaces, as the daemon's interface
// watcher would report them.
var hostIfaces = map[string][]netip.Addr{
	"lo":   {netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()},
	"eth0": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
	"eth1": {netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("fd01::1")},
}

// policyBed is the generated world with untrackd's pipeline in-process on
// the host namespace.
type policyBed struct {
	*kworld
	p *pipeline
}

func newPolicyBed(t *testing.T) *policyBed {
	requireKernelTools(t, "nft", "conntrack", "ip")
	w := newKernelWorld(t, false)
	// Make sure the host tracks connections whatever untrackd renders
	// (conntrack only tracks where some rule uses it).
	nftScript(t, w.host, "table inet testct {\nchain c { type filter hook input priority 10; policy accept; ct state established counter; }\n}\n")
	return &policyBed{kworld: w, p: newPipeline(t, "node1", w.hostFD)}
}

// apply programs the host with the resources of YAML documents (replacing
// whatever was there).
func (b *policyBed) apply(docs string) {
	b.t.Helper()
	b.p.mustApply(b.t, parseResources(b.t, docs), hostIfaces)
}

// expectTCP connects from ns (source address src, "" for any) to addr and
// fails the test unless the outcome is the wanted one.
func expectTCP(t *testing.T, ns *netnstest.NS, src, addr string, want bool, why string) {
	t.Helper()
	timeout := okTimeout
	if !want {
		timeout = blockedTimeout
	}
	err := ns.TCPConnectFrom(src, addr, timeout)
	switch {
	case want && err != nil:
		t.Errorf("%s: connection from %s %s to %s failed: %v", why, ns.Name, src, addr, err)
	case !want && err == nil:
		t.Errorf("%s: connection from %s %s to %s succeeded, want it dropped", why, ns.Name, src, addr)
	}
}

// expectUDP sends a datagram from ns to addr and waits for the echo.
func expectUDP(t *testing.T, ns *netnstest.NS, addr string, want bool, why string) {
	t.Helper()
	timeout := okTimeout
	if !want {
		timeout = blockedTimeout
	}
	err := ns.UDPExchange(addr, timeout)
	switch {
	case want && err != nil:
		t.Errorf("%s: UDP exchange from %s with %s failed: %v", why, ns.Name, addr, err)
	case !want && err == nil:
		t.Errorf("%s: UDP exchange from %s with %s succeeded, want it dropped", why, ns.Name, addr)
	}
}

// conntrackCount fails the test unless ns has at least (or, with exact,
// exactly) want conntrack entries matching args.
func conntrackCount(t *testing.T, ns *netnstest.NS, want int, exact bool, why string, args ...string) {
	t.Helper()
	got := ns.ConntrackCount(t, args...)
	if exact && got != want || !exact && got < want {
		rel := "at least"
		if exact {
			rel = "exactly"
		}
		out, _ := ns.Exec("conntrack", "-L")
		t.Errorf("%s: %d conntrack entries for %v, want %s %d\n%s", why, got, args, rel, want, out)
	}
}

const hepEth0 = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {side: outside}}
spec: {interfaceName: eth0, node: node1, expectedIPs: [10.0.0.1, "fd00::1"]}
`

const hepEth1 = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth1, labels: {side: inside}}
spec: {interfaceName: eth1, node: node1, expectedIPs: [10.1.0.1, "fd01::1"]}
`

// TestPolicyFailsafe: a host endpoint whose normal and untracked policies
// deny everything both ways still lets SSH and etcd in and DNS out (the
// default failsafe ports), and those flows stay tracked.
func TestPolicyFailsafe(t *testing.T) {
	b := newPolicyBed(t)
	for _, port := range []string{"22", "2379", "8080"} {
		b.host.TCPServe(t, "10.0.0.1:"+port)
	}
	b.client.UDPServe(t, "10.0.0.2:53")
	b.client.UDPServe(t, "10.0.0.2:5353")

	// Without policy everything works (so the checks below can fail).
	b.apply(allowAllProfileHEP)
	for _, port := range []string{"22", "2379", "8080"} {
		expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:"+port, true, "before the deny policies")
	}
	expectUDP(t, b.host, "10.0.0.2:53", true, "before the deny policies")
	expectUDP(t, b.host, "10.0.0.2:5353", true, "before the deny policies")

	b.apply(hepEth0 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all}
spec:
  selector: all()
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all-untracked}
spec:
  selector: all()
  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
`)
	b.host.MustExec(t, "conntrack", "-F")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:22", true, "SSH is an inbound failsafe port")
	expectTCP(t, b.client, "10.0.0.3", "10.0.0.1:2379", true, "etcd is an inbound failsafe port")
	expectUDP(t, b.host, "10.0.0.2:53", true, "DNS is an outbound failsafe port")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:8080", false, "a non-failsafe port under deny-all")
	expectUDP(t, b.host, "10.0.0.2:5353", false, "a non-failsafe outbound port under deny-all")
	// Failsafe flows stay tracked: the untracked Deny never sees them.
	conntrackCount(t, b.host, 1, false, "SSH", "-p", "tcp", "--dport", "22")
	conntrackCount(t, b.host, 1, false, "etcd", "-p", "tcp", "--dport", "2379")
	conntrackCount(t, b.host, 1, false, "DNS", "-p", "udp", "--dport", "53")
	conntrackCount(t, b.host, 0, true, "denied port", "-p", "tcp", "--dport", "8080")
	if t.Failed() {
		t.Logf("table:\n%s", untrackdTable(b.host))
	}
}

// TestPolicyFailsafeIPv6UntrackedDeny: SSH over IPv6 under a deny-all
// untracked policy when the neighbours are not cached yet. The raw failsafe chains exempt neighbour discovery
// (ICMPv6 135/136) as well as the failsafe ports, so the untracked Deny
// cannot drop the neighbour solicitations and the failsafe SSH port stays
// reachable over IPv6. (Felix's raw chains have this gap.)
func TestPolicyFailsafeIPv6UntrackedDeny(t *testing.T) {
	b := newPolicyBed(t)
	b.host.TCPServe(t, "[fd00::1]:22")
	b.apply(hepEth0 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-all-untracked}
spec:
  selector: all()
  doNotTrack: true
  applyOnForward: true
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
`)
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:22", true, "SSH over IPv6 with cached neighbours")
	b.client.MustExec(t, "ip", "-6", "neigh", "del", "fd00::1", "dev", "eth0")
	for _, a := range []string{"fd00::2", "fd00::3", "fd00::4"} {
		b.host.MustExec(t, "ip", "-6", "neigh", "del", a, "dev", "eth0")
	}
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:22", true, "SSH over IPv6 needing neighbour discovery under an untracked deny-all")
	if t.Failed() {
		t.Logf("client neighbours: %s\ntable:\n%s", b.client.MustExec(t, "ip", "-6", "neigh", "show", "dev", "eth0"), untrackdTable(b.host))
	}
}

// allowAllProfileHEP is a host endpoint on eth0 with Calico's default-allow
// profile: enforced, but allowing everything.
const allowAllProfileHEP = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {side: outside}}
spec: {interfaceName: eth0, node: node1, expectedIPs: [10.0.0.1, "fd00::1"], profiles: [projectcalico-default-allow]}
`

// TestPolicyDefaultDeny: a host endpoint without policy drops new
// connections to non-failsafe ports in both directions. A connection
// already established survives a policy change that would deny it: like
// Calico, untrackd accepts packets of established conntrack entries before
// any policy and never deletes conntrack entries, so a new Deny (or a
// removed Allow) applies to new flows only; an operator who must cut a flow
// deletes its entry (conntrack -D).
func TestPolicyDefaultDeny(t *testing.T) {
	b := newPolicyBed(t)
	b.host.TCPServe(t, "10.0.0.1:8080")
	b.client.TCPServe(t, "10.0.0.2:8080")
	streamServe(t, b.host, "10.0.0.1:9000")

	expectTCP(t, b.client, "", "10.0.0.1:8080", true, "no host endpoint: inbound")
	expectTCP(t, b.host, "", "10.0.0.2:8080", true, "no host endpoint: outbound")

	b.apply(hepEth0)
	b.host.MustExec(t, "conntrack", "-F")
	expectTCP(t, b.client, "", "10.0.0.1:8080", false, "default deny inbound")
	expectTCP(t, b.host, "", "10.0.0.2:8080", false, "default deny outbound")
	conntrackCount(t, b.host, 0, true, "dropped connections leave no entry", "-p", "tcp", "--dport", "8080")
	// The other interface has no host endpoint: not policed.
	b.far.TCPServe(t, "10.1.0.2:8080")
	expectTCP(t, b.host, "", "10.1.0.2:8080", true, "eth1 has no host endpoint")

	// Established connections survive a policy change.
	allow := hepEth0 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-9000}
spec:
  selector: side == 'outside'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [9000]}}]
`
	b.apply(allow)
	c, err := dialFrom(b.client, "10.0.0.2", "10.0.0.1:9000", okTimeout)
	if err != nil {
		t.Fatalf("connection to the allowed port: %v\n%s", err, untrackdTable(b.host))
	}
	defer c.Close()
	if err := roundTrip(c, "before"); err != nil {
		t.Fatalf("exchange on the allowed connection: %v", err)
	}
	b.apply(hepEth0 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-9000}
spec:
  order: 0
  selector: side == 'outside'
  ingress: [{action: Deny, protocol: TCP, destination: {ports: [9000]}}]
`)
	if err := roundTrip(c, "after the deny policy"); err != nil {
		t.Errorf("the established connection broke when a Deny policy replaced the Allow: %v", err)
	}
	conntrackCount(t, b.host, 1, false, "the established connection", "-p", "tcp", "--dport", "9000", "--state", "ESTABLISHED")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:9000", false, "a new connection after the deny policy")
	// Removing its conntrack entry cuts the flow.
	if out, err := b.host.Exec("conntrack", "-D", "-p", "tcp", "--dport", "9000"); !strings.Contains(out, "1 flow entries have been deleted") {
		t.Errorf("conntrack -D of the established connection: %v: %s", err, out)
	}
	if err := roundTrip(c, "after conntrack -D"); err == nil {
		t.Errorf("the connection still works after its conntrack entry was deleted under a Deny policy")
	}
}

// streamServe serves addr in ns: every connection echoes what it reads
// until the peer closes (closed at cleanup).
func streamServe(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s in %s: %v", addr, ns.Name, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// dialFrom opens a TCP connection from ns.
func dialFrom(ns *netnstest.NS, src, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	var c net.Conn
	err := ns.Do(func() (err error) { c, err = d.Dial("tcp", addr); return err })
	return c, err
}

// roundTrip writes msg and reads it back within a second.
func roundTrip(c net.Conn, msg string) error {
	if err := c.SetDeadline(time.Now().Add(time.Second)); err != nil {
		return err
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

// TestPolicyPreDNAT: pre-DNAT policy sees the destination before DNAT (a
// nat table of the test's own redirects port 8080 to 9090), a pre-DNAT
// Deny drops, and a pre-DNAT Allow does not bypass normal policy.
func TestPolicyPreDNAT(t *testing.T) {
	b := newPolicyBed(t)
	nftScript(t, b.host, `table ip testnat {
chain pre { type nat hook prerouting priority dstnat; policy accept;
iifname "eth0" tcp dport 8080 dnat to 10.0.0.1:9090
}
chain post { type nat hook postrouting priority srcnat; policy accept; }
}
`)
	b.host.TCPServe(t, "10.0.0.1:9090")
	b.host.TCPServe(t, "10.0.0.1:7070")
	const normal = hepEth0 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-9090}
spec:
  selector: side == 'outside'
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [9090]}}]
`
	b.apply(normal)
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:8080", true, "DNAT to the allowed port")
	expectTCP(t, b.client, "10.0.0.3", "10.0.0.1:8080", true, "DNAT to the allowed port")
	conntrackCount(t, b.host, 1, false, "DNATed connection", "-p", "tcp", "--orig-port-dst", "8080", "--reply-port-src", "9090")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:7070", false, "no normal policy allows 7070")

	preDNAT := func(name, rule string) string {
		return normal + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ` + name + `}
spec:
  selector: side == 'outside'
  preDNAT: true
  applyOnForward: true
  ingress: [` + rule + `]
`
	}
	// A Deny on the pre-DNAT port from one source drops that source only.
	b.apply(preDNAT("block-3", `{action: Deny, protocol: TCP, source: {nets: [10.0.0.3/32]}, destination: {ports: [8080]}}`))
	expectTCP(t, b.client, "10.0.0.3", "10.0.0.1:8080", false, "pre-DNAT Deny of port 8080 from 10.0.0.3")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:8080", true, "pre-DNAT Deny of another source")
	// A Deny on the post-DNAT port does not match: pre-DNAT policy sees
	// port 8080.
	b.apply(preDNAT("block-3", `{action: Deny, protocol: TCP, source: {nets: [10.0.0.3/32]}, destination: {ports: [9090]}}`))
	expectTCP(t, b.client, "10.0.0.3", "10.0.0.1:8080", true, "pre-DNAT Deny of the post-DNAT port 9090")
	// A pre-DNAT Allow does not bypass normal policy.
	b.apply(preDNAT("allow-all-pre", `{action: Allow, protocol: TCP, source: {nets: [10.0.0.0/24]}}`))
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:7070", false, "pre-DNAT Allow, no normal policy for 7070")
	conntrackCount(t, b.host, 0, true, "dropped after a pre-DNAT Allow", "-p", "tcp", "--dport", "7070")
	expectTCP(t, b.client, "10.0.0.2", "10.0.0.1:8080", true, "pre-DNAT Allow and normal policy allows 9090")
	if t.Failed() {
		t.Logf("table:\n%s", untrackdTable(b.host))
	}
}

// TestPolicyApplyOnForward: traffic forwarded between the client and far
// namespaces through the host is policed only by applyOnForward policy:
// unpoliced when no such policy applies (even when normal policy denies
// everything to and from the host), allowed only where every side with
// such policies allows it, and tracked.
func TestPolicyApplyOnForward(t *testing.T) {
	b := newPolicyBed(t)
	b.far.TCPServe(t, "10.1.0.2:80")
	b.far.TCPServe(t, "10.1.0.2:8080")
	b.host.TCPServe(t, "10.0.0.1:80")
	const heps = hepEth0 + "---\n" + hepEth1 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: deny-host}
spec:
  selector: has(side)
  types: [Ingress, Egress]
  ingress: [{action: Deny}]
  egress: [{action: Deny}]
`
	b.apply(heps)
	expectTCP(t, b.client, "", "10.0.0.1:80", false, "normal policy denies traffic to the host")
	expectTCP(t, b.client, "", "10.1.0.2:80", true, "no applyOnForward policy: forwarding unpoliced")
	expectTCP(t, b.client, "", "10.1.0.2:8080", true, "no applyOnForward policy: forwarding unpoliced")
	conntrackCount(t, b.host, 1, false, "forwarded connections are tracked", "-p", "tcp", "--dport", "8080", "--dst", "10.1.0.2")

	const outsideIn = `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: fwd-outside-in}
spec:
  selector: side == 'outside'
  applyOnForward: true
  types: [Ingress]
  ingress: [{action: Allow, protocol: TCP, destination: {ports: [80]}}]
`
	b.apply(heps + outsideIn)
	b.host.MustExec(t, "conntrack", "-F")
	expectTCP(t, b.client, "", "10.1.0.2:80", true, "allowed by the arriving side's applyOnForward policy")
	expectTCP(t, b.client, "", "10.1.0.2:8080", false, "not allowed by the arriving side's applyOnForward policy")
	conntrackCount(t, b.host, 0, true, "denied forwarded flow", "-p", "tcp", "--dport", "8080")
	expectTCP(t, b.client, "", "10.0.0.1:80", false, "applyOnForward Allow of port 80 does not open the host (normal Deny first)")

	// The leaving side gets a policy too: both must allow.
	insideOut := func(port int) string {
		return fmt.Sprintf(`---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: fwd-inside-out}
spec:
  selector: side == 'inside'
  applyOnForward: true
  types: [Egress]
  egress: [{action: Allow, protocol: TCP, destination: {ports: [%d]}}]
`, port)
	}
	b.apply(heps + outsideIn + insideOut(8080))
	expectTCP(t, b.client, "", "10.1.0.2:80", false, "the leaving side's applyOnForward policy does not allow 80")
	expectTCP(t, b.client, "", "10.1.0.2:8080", false, "the arriving side does not allow 8080")
	b.apply(heps + outsideIn + insideOut(80))
	expectTCP(t, b.client, "", "10.1.0.2:80", true, "both sides allow 80")
	conntrackCount(t, b.host, 1, false, "forwarded allowed flow is tracked", "-p", "tcp", "--dport", "80", "--dst", "10.1.0.2")
	if t.Failed() {
		t.Logf("table:\n%s", untrackdTable(b.host))
	}
}

// TestPolicyIPv6: the seed untracked scenario and normal allow and deny
// over IPv6, and neighbour discovery under default deny.
func TestPolicyIPv6(t *testing.T) {
	b := newPolicyBed(t)
	for _, port := range []string{"22", "12211", "12212", "12213"} {
		b.host.TCPServe(t, "[fd00::1]:"+port)
	}
	const clientHEPv6 = `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: client-1, labels: {memcached: client}}
spec: {interfaceName: eth0, node: client-node, expectedIPs: ["fd00::2"]}
`
	b.apply(`apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: node1-eth0, labels: {memcached: server}}
spec: {interfaceName: eth0, node: node1, expectedIPs: ["fd00::1"]}
---
` + clientHEPv6 + `---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: memcached-server}
spec:
  selector: memcached == 'server'
  applyOnForward: true
  doNotTrack: true
  ingress: [{action: Allow, protocol: TCP, source: {selector: memcached == 'client'}, destination: {ports: [12211]}}]
  egress: [{action: Allow, protocol: TCP, source: {ports: [12211]}, destination: {selector: memcached == 'client'}}]
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: normal-v6}
spec:
  order: 10
  selector: memcached == 'server'
  ingress:
  - {action: Deny, protocol: TCP, destination: {ports: [12213]}}
  - {action: Allow, protocol: TCP, source: {nets: ["fd00::/126"]}, destination: {ports: ["12212:12213"]}}
`)
	b.host.MustExec(t, "conntrack", "-F")
	for range 5 {
		expectTCP(t, b.client, "fd00::2", "[fd00::1]:12211", true, "untracked Allow from the client endpoint")
		expectTCP(t, b.client, "fd00::2", "[fd00::1]:12212", true, "normal Allow from fd00::/126")
	}
	conntrackCount(t, b.host, 0, true, "untracked IPv6 flows", "-f", "ipv6", "-p", "tcp", "--dport", "12211")
	conntrackCount(t, b.host, 5, false, "tracked IPv6 flows", "-f", "ipv6", "-p", "tcp", "--dport", "12212")
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:12211", false, "untracked port from an address no selector selects: default deny")
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:12212", true, "normal Allow from fd00::/126")
	expectTCP(t, b.client, "fd00::4", "[fd00::1]:12212", false, "outside fd00::/126: default deny")
	expectTCP(t, b.client, "fd00::2", "[fd00::1]:12213", false, "normal Deny before the Allow")

	// Neighbour discovery under default deny: forget the static neighbour
	// entries, so the client and the host must resolve each other through
	// the host endpoint's default deny (the connection goes to the SSH
	// failsafe port, so only neighbour discovery can stop it).
	b.apply(hepEth0)
	b.client.MustExec(t, "ip", "-6", "neigh", "del", "fd00::1", "dev", "eth0")
	for _, a := range []string{"fd00::2", "fd00::3", "fd00::4"} {
		b.host.MustExec(t, "ip", "-6", "neigh", "del", a, "dev", "eth0")
	}
	b.host.MustExec(t, "conntrack", "-F")
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:22", true, "SSH over IPv6 with neighbour discovery under default deny")
	expectTCP(t, b.client, "fd00::3", "[fd00::1]:12212", false, "default deny over IPv6")
	out := b.client.MustExec(t, "ip", "-6", "neigh", "show", "fd00::1", "dev", "eth0")
	if !strings.Contains(out, "lladdr") || strings.Contains(out, "FAILED") || strings.Contains(out, "PERMANENT") {
		t.Errorf("the client did not resolve fd00::1 by neighbour discovery: %q", out)
	}
	out = b.host.MustExec(t, "ip", "-6", "neigh", "show", "fd00::3", "dev", "eth0")
	if !strings.Contains(out, "lladdr") || strings.Contains(out, "FAILED") {
		t.Errorf("the host did not resolve fd00::3 by neighbour discovery: %q", out)
	}
	if t.Failed() {
		t.Logf("table:\n%s", untrackdTable(b.host))
	}
}

// TestPolicyLateInterface runs the daemon (its netlink interface watcher
// only runs there): a HostEndpoint for eth2 written before eth2 exists is
// enforced as soon as the link appears; a HostEndpoint with only
// expectedIPs governs the interface that gets one of those addresses and
// lets go of it when the address is removed.
func TestPolicyLateInterface(t *testing.T) {
	tb := newTestbed(t)
	late := netnstest.New(t, "ut-late")
	tb.waitFor("untrackd's table", 60*time.Second, func() bool { return strings.Contains(tb.table(), "raw-prerouting") })

	const hepEth2 = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"late-eth2"},"spec":{"interfaceName":"eth2","node":"memcached-node-1"}}`
	tb.put(keyPrefix+"hostendpoints/late-eth2", hepEth2)
	tb.waitFor("eth2's chains before the link exists", 10*time.Second, func() bool { return strings.Contains(tb.table(), `iifname "eth2"`) })

	netnstest.Link(t, tb.srv, "eth2", []string{"10.78.0.1/24"}, late, "eth0", []string{"10.78.0.2/24"})
	tb.srv.TCPServe(t, "10.78.0.1:22")
	tb.srv.TCPServe(t, "10.78.0.1:8080")
	expectTCP(t, late, "", "10.78.0.1:22", true, "failsafe SSH on the new link")
	expectTCP(t, late, "", "10.78.0.1:8080", false, "default deny on the new link")
	if n := tb.srv.ConntrackCount(t, "-p", "tcp", "--dport", "8080"); n != 0 {
		t.Errorf("%d conntrack entries for the denied port on the new link", n)
	}

	tb.del(keyPrefix + "hostendpoints/late-eth2")
	tb.waitFor("eth2's chains to go", 10*time.Second, func() bool { return !strings.Contains(tb.table(), `"eth2"`) })
	expectTCP(t, late, "", "10.78.0.1:8080", true, "no host endpoint on eth2")

	// An endpoint with only expectedIPs binds when its address appears.
	const hepByIP = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"by-ip"},"spec":{"node":"memcached-node-1","expectedIPs":["10.79.0.1"]}}`
	tb.put(keyPrefix+"hostendpoints/by-ip", hepByIP)
	time.Sleep(300 * time.Millisecond)
	if strings.Contains(tb.table(), `"eth2"`) {
		t.Fatalf("the expectedIPs endpoint governs eth2 before eth2 has its address:\n%s", tb.table())
	}
	expectTCP(t, late, "", "10.78.0.1:8080", true, "the expectedIPs endpoint's address is not on eth2 yet")

	tb.srv.MustExec(t, "ip", "addr", "add", "10.79.0.1/24", "dev", "eth2")
	took := tb.waitFor("the expectedIPs endpoint to govern eth2", 10*time.Second, func() bool { return strings.Contains(tb.table(), `iifname "eth2"`) })
	t.Logf("address added → eth2 governed in %v", took)
	expectTCP(t, late, "", "10.78.0.1:8080", false, "default deny once eth2 has the expected address")
	expectTCP(t, late, "", "10.78.0.1:22", true, "failsafe SSH on eth2")

	tb.srv.MustExec(t, "ip", "addr", "del", "10.79.0.1/24", "dev", "eth2")
	took = tb.waitFor("the expectedIPs endpoint to let go of eth2", 10*time.Second, func() bool { return !strings.Contains(tb.table(), `"eth2"`) })
	t.Logf("address removed → eth2 released in %v", took)
	expectTCP(t, late, "", "10.78.0.1:8080", true, "no host endpoint on eth2 once the address is gone")
}
