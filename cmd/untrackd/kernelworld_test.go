package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/dataplane/netnstest"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/model"
)

// This file holds the helpers of the kernel tests in this package that run
// untrackd's pipeline in-process against throwaway namespaces
// (differential_kernel_test.go, policy_kernel_test.go): the generated
// world's topology, raw packets crafted byte by byte, and a probe table
// that observes what untrackd's chains let through.
//
// Topology (calc/reference's generated world):
//
//	client                      host (node1)                    far
//	eth0 10.0.0.2-4/24 ──────── eth0 10.0.0.1/24
//	     203.0.113.5/32              fd00::1/64
//	     fd00::2-4/64                eth1 10.1.0.1/24 ──────── eth0 10.1.0.2-3/24
//	                                      fd01::1/64                fd01::2-3/64
//
// The client and far namespaces route everything via the host, which
// forwards IPv4 and IPv6. Neighbour entries are static everywhere, so no
// policy under test can cut off ARP or neighbour discovery of the test
// itself.

// requireKernelTools skips the test unless it runs as root with working
// namespaces and the given commands.
func requireKernelTools(t *testing.T, tools ...string) {
	t.Helper()
	netnstest.RequireRoot(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping kernel test: %s not installed (apt-get install nftables conntrack iproute2)", tool)
		}
	}
}

// kworld is the generated world's three namespaces.
type kworld struct {
	t                 *testing.T
	client, host, far *netnstest.NS
	hostFD            int
	macs              map[string]string // "client", "host-eth0", "host-eth1", "far"
}

// Addresses of the world, as CIDRs on the interfaces.
var (
	clientAddrs = []string{"10.0.0.2/24", "10.0.0.3/24", "10.0.0.4/24", "203.0.113.5/32", "fd00::2/64", "fd00::3/64", "fd00::4/64"}
	hostEth0    = []string{"10.0.0.1/24", "fd00::1/64"}
	hostEth1    = []string{"10.1.0.1/24", "fd01::1/64"}
	farAddrs    = []string{"10.1.0.2/24", "10.1.0.3/24", "fd01::2/64", "fd01::3/64"}
)

// newKernelWorld creates the three namespaces, links and routes. With sink,
// the client and far namespaces drop every packet arriving (so they never
// answer the test's packets and add no traffic of their own).
func newKernelWorld(t *testing.T, sink bool) *kworld {
	t.Helper()
	w := &kworld{t: t, client: netnstest.New(t, "ut-client"), host: netnstest.New(t, "ut-host"), far: netnstest.New(t, "ut-far")}
	netnstest.Link(t, w.host, "eth0", hostEth0, w.client, "eth0", clientAddrs)
	netnstest.Link(t, w.host, "eth1", hostEth1, w.far, "eth0", farAddrs)
	w.macs = map[string]string{
		"client": w.mac(w.client, "eth0"), "far": w.mac(w.far, "eth0"),
		"host-eth0": w.mac(w.host, "eth0"), "host-eth1": w.mac(w.host, "eth1"),
	}
	w.host.MustExec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.eth0.rp_filter=0", "net.ipv4.conf.eth1.rp_filter=0")
	var host, client, far []string
	host = append(host, "route add 203.0.113.5/32 dev eth0")
	for _, a := range clientAddrs {
		host = append(host, "neigh replace "+addrOf(a)+" lladdr "+w.macs["client"]+" dev eth0 nud permanent")
	}
	for _, a := range farAddrs {
		host = append(host, "neigh replace "+addrOf(a)+" lladdr "+w.macs["far"]+" dev eth1 nud permanent")
	}
	for _, a := range hostEth0 {
		client = append(client, "neigh replace "+addrOf(a)+" lladdr "+w.macs["host-eth0"]+" dev eth0 nud permanent")
	}
	for _, a := range hostEth1 {
		far = append(far, "neigh replace "+addrOf(a)+" lladdr "+w.macs["host-eth1"]+" dev eth0 nud permanent")
	}
	client = append(client, "route add default via 10.0.0.1", "route add default via fd00::1")
	far = append(far, "route add default via 10.1.0.1", "route add default via fd01::1")
	w.ipBatch(w.host, host)
	w.ipBatch(w.client, client)
	w.ipBatch(w.far, far)
	if sink {
		for _, ns := range []*netnstest.NS{w.client, w.far} {
			nftScript(t, ns, "table inet sink {\nchain sink_pre { type filter hook prerouting priority -500; policy drop; }\n}\n")
		}
	}
	w.hostFD = w.host.FD(t)
	return w
}

func addrOf(cidr string) string { return strings.SplitN(cidr, "/", 2)[0] }

var macRe = regexp.MustCompile(`link/ether ([0-9a-f:]{17})`)

func (w *kworld) mac(ns *netnstest.NS, ifname string) string {
	out := ns.MustExec(w.t, "ip", "-o", "link", "show", ifname)
	m := macRe.FindStringSubmatch(out)
	if m == nil {
		w.t.Fatalf("no MAC address for %s in %s: %s", ifname, ns.Name, out)
	}
	return m[1]
}

// ipBatch runs ip commands in one `ip -batch`.
func (w *kworld) ipBatch(ns *netnstest.NS, cmds []string) {
	w.t.Helper()
	f := filepath.Join(w.t.TempDir(), "ip.batch")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	ns.MustExec(w.t, "ip", "-batch", f)
}

// nftScript runs an nft script (nft -f) in the namespace.
func nftScript(t testing.TB, ns *netnstest.NS, script string) {
	t.Helper()
	if out, err := nftScriptErr(ns, script); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\nscript:\n%s", ns.Name, err, out, script)
	}
}

func nftScriptErr(ns *netnstest.NS, script string) (string, error) {
	f, err := os.CreateTemp("", "untrackd-nft-*.nft")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(script); err != nil {
		f.Close()
		return "", err
	}
	f.Close()
	return ns.Exec("nft", "-f", f.Name())
}

// untrackdTable returns `nft list table inet untrackd` in the namespace.
func untrackdTable(ns *netnstest.NS) string {
	out, err := ns.Exec("nft", "list", "table", "inet", "untrackd")
	if err != nil {
		return fmt.Sprintf("(nft list table inet untrackd: %v: %s)", err, out)
	}
	return out
}

// pipeline runs untrackd's calculation graph and dataplane driver
// in-process, writing through netlink into one namespace, as the daemon
// does minus etcd and the interface watcher.
type pipeline struct {
	node string
	w    *nft.Netlink
}

// newPipeline opens a netlink writer into the namespace of fd.
func newPipeline(t testing.TB, node string, fd int) *pipeline {
	t.Helper()
	w, err := nft.NewNetlink(nft.WithNetNS(fd), nft.WithTimeout(20*time.Second))
	if err != nil {
		t.Fatalf("netlink writer: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return &pipeline{node: node, w: w}
}

// apply makes the table in the kernel that of resources rs with the host
// interfaces ifaces (a fresh graph and driver, which reads the kernel back
// and changes what differs, like a restarted daemon).
func (p *pipeline) apply(rs []model.Resource, ifaces map[string][]netip.Addr) error {
	g := calc.NewGraph(p.node, nil)
	var kvs []calc.KV
	for _, r := range rs {
		kvs = append(kvs, calc.KV{Key: model.Key{Kind: r.GetKind(), Name: r.GetMeta().Name}, Value: r})
	}
	g.Apply(calc.Input{Updates: kvs, InSync: true})
	d := dataplane.NewDriver(dataplane.Options{Writer: p.w, Render: render.DefaultConfig()})
	d.OnInterfaces(ifaces)
	for _, m := range g.Sequencer().Flush() {
		d.OnUpdate(m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !d.InSync() {
		return fmt.Errorf("driver not in sync after the graph's flush")
	}
	_, err := d.Apply(ctx)
	return err
}

// mustApply is apply that fails the test.
func (p *pipeline) mustApply(t testing.TB, rs []model.Resource, ifaces map[string][]netip.Addr) {
	t.Helper()
	if err := p.apply(rs, ifaces); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// parseResources decodes and validates YAML documents separated by "---".
func parseResources(t testing.TB, docs string) []model.Resource {
	t.Helper()
	var out []model.Resource
	for i, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		r, err := model.Decode(js)
		if err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("document %d: %v\n%s", i, err, doc)
		}
		out = append(out, r)
	}
	return out
}

// resourcesYAML renders resources as a multi-document YAML stream.
func resourcesYAML(rs []model.Resource) string {
	var docs []string
	for _, r := range rs {
		b, err := yaml.Marshal(r)
		if err != nil {
			docs = append(docs, fmt.Sprintf("# %s %s: %v", r.GetKind(), r.GetMeta().Name, err))
			continue
		}
		docs = append(docs, strings.TrimSpace(string(b)))
	}
	return strings.Join(docs, "\n---\n")
}

// ---- raw packets ----

// wirePacket is one packet the test crafts: IPv4 or IPv6, TCP (a SYN), UDP
// or ICMP/ICMPv6. Tag goes where policies never look (the TCP sequence
// number, the UDP payload, ICMP bytes 4-7 — for echo messages the
// identifier and sequence number — and the IPv4 identification), so a probe
// can tell packets with the same addresses and ports apart. Tags must
// differ in their low 16 bits within one conntrack flush: they are the ICMP
// echo identifier, which conntrack's ICMP tuple includes.
type wirePacket struct {
	Src, Dst           netip.Addr
	Proto              uint8
	SrcPort, DstPort   uint16
	ICMPType, ICMPCode uint8
	Tag                uint32
}

func (p wirePacket) String() string {
	s := fmt.Sprintf("%s → %s proto %d", p.Src, p.Dst, p.Proto)
	if p.Proto == 6 || p.Proto == 17 {
		s += fmt.Sprintf(" %d → %d", p.SrcPort, p.DstPort)
	} else {
		s += fmt.Sprintf(" type %d code %d", p.ICMPType, p.ICMPCode)
	}
	return s + fmt.Sprintf(" tag %#x", p.Tag)
}

// checksum is the Internet checksum of the concatenated byte slices.
func checksum(parts ...[]byte) uint16 {
	var sum uint32
	var odd []byte
	for _, b := range parts {
		if len(odd) == 1 && len(b) > 0 {
			sum += uint32(odd[0])<<8 | uint32(b[0])
			b = b[1:]
			odd = nil
		}
		for len(b) >= 2 {
			sum += uint32(b[0])<<8 | uint32(b[1])
			b = b[2:]
		}
		if len(b) == 1 {
			odd = b
		}
	}
	if len(odd) == 1 {
		sum += uint32(odd[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// bytes returns the whole packet, IP header included, with correct
// checksums.
func (p wirePacket) bytes() []byte {
	v6 := p.Src.Is6()
	var l4 []byte
	switch p.Proto {
	case 6:
		l4 = make([]byte, 20)
		binary.BigEndian.PutUint16(l4[0:], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], p.DstPort)
		binary.BigEndian.PutUint32(l4[4:], p.Tag)
		l4[12] = 5 << 4
		l4[13] = 0x02 // SYN
		binary.BigEndian.PutUint16(l4[14:], 64240)
	case 17:
		l4 = make([]byte, 12)
		binary.BigEndian.PutUint16(l4[0:], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], p.DstPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		binary.BigEndian.PutUint32(l4[8:], p.Tag)
	default: // ICMP, ICMPv6
		l4 = make([]byte, 16)
		l4[0], l4[1] = p.ICMPType, p.ICMPCode
		binary.BigEndian.PutUint32(l4[4:], p.icmpRest())
		copy(l4[8:], "untrackd")
	}
	csumAt := map[uint8]int{6: 16, 17: 6, 1: 2, 58: 2}[p.Proto]
	src, dst := p.Src.AsSlice(), p.Dst.AsSlice()
	var pseudo []byte
	switch {
	case v6:
		pseudo = make([]byte, 40)
		copy(pseudo, src)
		copy(pseudo[16:], dst)
		binary.BigEndian.PutUint32(pseudo[32:], uint32(len(l4)))
		pseudo[39] = p.Proto
	case p.Proto != 1:
		pseudo = make([]byte, 12)
		copy(pseudo, src)
		copy(pseudo[4:], dst)
		pseudo[9] = p.Proto
		binary.BigEndian.PutUint16(pseudo[10:], uint16(len(l4)))
	}
	c := checksum(pseudo, l4)
	if c == 0 && p.Proto == 17 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[csumAt:], c)
	if v6 {
		h := make([]byte, 40)
		h[0] = 6 << 4
		binary.BigEndian.PutUint16(h[4:], uint16(len(l4)))
		h[6], h[7] = p.Proto, 64
		copy(h[8:], src)
		copy(h[24:], dst)
		return append(h, l4...)
	}
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	binary.BigEndian.PutUint16(h[4:], uint16(p.Tag)|1)
	h[8], h[9] = 64, p.Proto
	copy(h[12:], src)
	copy(h[16:], dst)
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return append(h, l4...)
}

// icmpRest is the tag as ICMP bytes 4-7: its low 16 bits, which vary from
// packet to packet, first, so that they become the identifier of echo
// messages (part of conntrack's ICMP tuple).
func (p wirePacket) icmpRest() uint32 { return bits.RotateLeft32(p.Tag, 16) }

// nftMatch returns nft expressions matching exactly this packet.
func (p wirePacket) nftMatch() string {
	var b strings.Builder
	if p.Src.Is4() {
		fmt.Fprintf(&b, "meta nfproto ipv4 ip saddr %s ip daddr %s ", p.Src, p.Dst)
	} else {
		fmt.Fprintf(&b, "meta nfproto ipv6 ip6 saddr %s ip6 daddr %s ", p.Src, p.Dst)
	}
	switch p.Proto {
	case 6, 17:
		name := map[uint8]string{6: "tcp", 17: "udp"}[p.Proto]
		fmt.Fprintf(&b, "meta l4proto %s th sport %d th dport %d ", name, p.SrcPort, p.DstPort)
		if p.Proto == 6 {
			fmt.Fprintf(&b, "tcp sequence %d", p.Tag)
		} else {
			fmt.Fprintf(&b, "@th,64,32 %#x", p.Tag)
		}
	case 1:
		fmt.Fprintf(&b, "meta l4proto icmp icmp type %d icmp code %d @th,32,32 %#x", p.ICMPType, p.ICMPCode, p.icmpRest())
	case 58:
		fmt.Fprintf(&b, "meta l4proto ipv6-icmp icmpv6 type %d icmpv6 code %d @th,32,32 %#x", p.ICMPType, p.ICMPCode, p.icmpRest())
	}
	return b.String()
}

// rawSender sends crafted packets from inside one namespace.
type rawSender struct{ fd4, fd6 int }

// newRawSender opens raw sockets (IPPROTO_RAW: the packet includes its IP
// header) in ns; they are closed at cleanup.
func newRawSender(t testing.TB, ns *netnstest.NS) *rawSender {
	t.Helper()
	s := &rawSender{fd4: -1, fd6: -1}
	err := ns.Do(func() error {
		var err error
		if s.fd4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return err
		}
		s.fd6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	t.Cleanup(func() {
		for _, fd := range []int{s.fd4, s.fd6} {
			if fd >= 0 {
				_ = unix.Close(fd)
			}
		}
	})
	if err != nil {
		t.Fatalf("raw sockets in %s: %v", ns.Name, err)
	}
	return s
}

// send sends one packet; the kernel routes it by its destination. A packet
// that netfilter drops on the sender's own output path fails with EPERM,
// which send ignores: the probe sees the drop.
func (s *rawSender) send(p wirePacket) error {
	b := p.bytes()
	var err error
	if p.Dst.Is4() {
		err = unix.Sendto(s.fd4, b, 0, &unix.SockaddrInet4{Addr: p.Dst.As4()})
	} else {
		err = unix.Sendto(s.fd6, b, 0, &unix.SockaddrInet6{Addr: p.Dst.As16()})
	}
	if errors.Is(err, unix.EPERM) {
		return nil
	}
	return err
}

// ---- the probe ----

// probeHook is where a probe counts a packet, after untrackd's chains on
// the same hook: input (arriving for the host), forward, or postrouting
// (sent by the host).
type probeHook int

const (
	hookInput probeHook = iota
	hookForward
	hookPostrouting
)

// probeCase is one packet the probe watches for.
type probeCase struct {
	hook  probeHook
	iface string // iifname (input, forward) or oifname (postrouting)
	pkt   wirePacket
}

// observed is what the probe saw of one packet: how many copies passed
// untrackd's chains, and in which conntrack state.
type observed struct {
	Arrived             int // seen before any of untrackd's chains
	Any, Untracked, New int // seen after them, in total and by ct state
}

func (o observed) delivered() bool { return o.Any > 0 }

func (o observed) String() string {
	switch {
	case o.Arrived == 0:
		return "never arrived (the test's packet was lost before untrackd's chains)"
	case o.Any == 0:
		return "dropped (never reached the probe after untrackd's chains)"
	case o.Untracked == o.Any:
		return "delivered, ct state untracked"
	case o.New == o.Any:
		return "delivered, ct state new (tracked)"
	}
	return fmt.Sprintf("delivered %d times: %d untracked, %d new, %d in another ct state (established, related or invalid)",
		o.Any, o.Untracked, o.New, o.Any-o.Untracked-o.New)
}

// probeScript returns the nft script (re)creating table inet probe with
// counters for the cases, and sentinel counters for the given arrival
// interfaces (counted at prerouting before anything else, then dropped).
func probeScript(cases []probeCase, sentinels map[string]wirePacket) string {
	var b strings.Builder
	b.WriteString("table inet probe {}\ndelete table inet probe\ntable inet probe {\n")
	b.WriteString("chain sentinel { type filter hook prerouting priority -500; policy accept;\n")
	for _, iface := range slices.Sorted(maps.Keys(sentinels)) {
		fmt.Fprintf(&b, "iifname %q %s counter drop comment \"s-%s\"\n", iface, sentinels[iface].nftMatch(), iface)
	}
	b.WriteString("}\n")
	// Arrival counters, before untrackd's chains (raw is -300).
	for _, h := range []struct {
		chain, hook, dir string
		egress           bool
	}{{"arrive_pre", "prerouting", "iifname", false}, {"arrive_out", "output", "oifname", true}} {
		fmt.Fprintf(&b, "chain %s { type filter hook %s priority -500; policy accept;\n", h.chain, h.hook)
		for i, c := range cases {
			if (c.hook == hookPostrouting) == h.egress {
				fmt.Fprintf(&b, "%s %q %s counter comment \"c%d-r\"\n", h.dir, c.iface, c.pkt.nftMatch(), i)
			}
		}
		b.WriteString("}\n")
	}
	for _, h := range []struct {
		hook  probeHook
		chain string
		dir   string
	}{{hookInput, "input", "iifname"}, {hookForward, "forward", "iifname"}, {hookPostrouting, "postrouting", "oifname"}} {
		fmt.Fprintf(&b, "chain probe_%s { type filter hook %s priority 100; policy accept;\n", h.chain, h.chain)
		for i, c := range cases {
			if c.hook != h.hook {
				continue
			}
			m := fmt.Sprintf("%s %q %s", h.dir, c.iface, c.pkt.nftMatch())
			fmt.Fprintf(&b, "%s ct state untracked counter comment \"c%d-u\"\n", m, i)
			fmt.Fprintf(&b, "%s ct state new counter comment \"c%d-n\"\n", m, i)
			fmt.Fprintf(&b, "%s counter comment \"c%d-a\"\n", m, i)
		}
		b.WriteString("}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

var probeCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ (?:drop )?comment "([^"]+)"`)

// probeCounters reads the probe table's counters by comment.
func probeCounters(ns *netnstest.NS) (map[string]int, error) {
	out, err := ns.Exec("nft", "list", "table", "inet", "probe")
	if err != nil {
		return nil, fmt.Errorf("nft list table inet probe: %v: %s", err, out)
	}
	got := map[string]int{}
	for _, m := range probeCounter.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[1])
		got[m[2]] = n
	}
	return got, nil
}

// probeRun observes one batch of packets in the world's host namespace:
// it flushes conntrack (so every packet is the first of its flow), creates
// the probe, sends every packet through send(i), then sentinels on the
// arrival interfaces, and returns what the probe saw of each case.
// Ingress and forward cases must arrive from the client (eth0) or far
// (eth1) namespace; postrouting cases are sent by the host itself.
func (w *kworld) probeRun(cases []probeCase, send func(i int) error, sentinels map[string]func() error, sentinelPkts map[string]wirePacket) ([]observed, error) {
	if out, err := w.host.Exec("conntrack", "-F"); err != nil {
		return nil, fmt.Errorf("conntrack -F: %v: %s", err, out)
	}
	if out, err := nftScriptErr(w.host, probeScript(cases, sentinelPkts)); err != nil {
		return nil, fmt.Errorf("probe table: %v: %s", err, out)
	}
	for i := range cases {
		if err := send(i); err != nil {
			return nil, fmt.Errorf("send case %d (%v): %w", i, cases[i].pkt, err)
		}
	}
	for _, iface := range slices.Sorted(maps.Keys(sentinels)) {
		if err := sentinels[iface](); err != nil {
			return nil, fmt.Errorf("sentinel on %s: %w", iface, err)
		}
	}
	// Packets arriving through a veth are processed in softirq context,
	// normally before the send returns; wait (bounded) until every sentinel
	// has arrived, sent last, and the counters are stable.
	deadline := time.Now().Add(5 * time.Second)
	var last map[string]int
	for {
		got, err := probeCounters(w.host)
		if err != nil {
			return nil, err
		}
		ready := true
		for iface := range sentinels {
			if got["s-"+iface] == 0 {
				ready = false
			}
		}
		if ready && last != nil && fmt.Sprint(got) == fmt.Sprint(last) {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("probe counters not stable or sentinels lost after 5s: %v", got)
		}
		last = got
		time.Sleep(2 * time.Millisecond)
	}
	res := make([]observed, len(cases))
	for i := range cases {
		res[i] = observed{Arrived: last[fmt.Sprintf("c%d-r", i)], Any: last[fmt.Sprintf("c%d-a", i)], Untracked: last[fmt.Sprintf("c%d-u", i)], New: last[fmt.Sprintf("c%d-n", i)]}
	}
	return res, nil
}
