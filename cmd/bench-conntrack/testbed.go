package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

const (
	serverNS   = "utbench-srv"
	clientNS   = "utbench-cli"
	serverIP   = "10.211.0.1"
	port       = 12211
	nodeName   = "memcached-node-1"
	ctMaxKey   = "net.netfilter.nf_conntrack_max"
	ctCloseKey = "net.netfilter.nf_conntrack_tcp_timeout_close"
)

// clientIP returns the i-th client source address.
func clientIP(i int) string { return fmt.Sprintf("10.211.0.%d", 10+i) }

// testbed is the two namespaces, memcached, and what the current phase set.
type testbed struct {
	cfg       *config
	cleanups  *bench.Cleanups
	srv, cli  *bench.NS
	sysctls   *bench.GlobalSysctls
	untrackd  string // absolute path
	self      string // this executable, for the client
	dir       string
	memcached *bench.Proc
	srvNAPI   []int // the server interface's threaded-NAPI poller threads
	cliNAPI   []int
	phase     string
	ctMaxOrig string
	mcVersion string
}

func newTestbed(ctx context.Context, cfg *config, cleanups *bench.Cleanups) (*testbed, error) {
	for _, tool := range []string{"ip", "nft", "conntrack", "memcached", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (Debian: apt-get install iproute2 nftables conntrack memcached ethtool; make deps)", tool)
		}
	}
	tb := &testbed{cfg: cfg, cleanups: cleanups, sysctls: &bench.GlobalSysctls{}}
	var err error
	if tb.untrackd, err = filepath.Abs(cfg.untrackd); err != nil {
		return nil, err
	}
	if _, err := os.Stat(tb.untrackd); err != nil {
		return nil, fmt.Errorf("untrackd binary: %w (make build)", err)
	}
	if tb.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if tb.ctMaxOrig, err = bench.ReadSysctl(ctMaxKey); err != nil {
		return nil, fmt.Errorf("read %s (is nf_conntrack loaded?): %w", ctMaxKey, err)
	}
	cleanups.Add(tb.sysctls.Restore)
	if tb.dir, err = os.MkdirTemp("", "bench-conntrack-"); err != nil {
		return nil, err
	}
	cleanups.Add(func() { _ = os.RemoveAll(tb.dir) })

	if tb.srv, err = bench.NewNS(serverNS); err != nil {
		return nil, err
	}
	cleanups.Add(tb.srv.Delete)
	if tb.cli, err = bench.NewNS(clientNS); err != nil {
		return nil, err
	}
	cleanups.Add(tb.cli.Delete)
	var cliAddrs []string
	for i := 0; i < cfg.sources; i++ {
		cliAddrs = append(cliAddrs, clientIP(i)+"/24")
	}
	if err := bench.Link(tb.srv, "eth0", []string{serverIP + "/24"}, tb.cli, "eth0", cliAddrs); err != nil {
		return nil, err
	}
	if cfg.napi {
		if tb.srvNAPI, err = threadedNAPI(tb.srv, "eth0"); err != nil {
			return nil, err
		}
		if tb.cliNAPI, err = threadedNAPI(tb.cli, "eth0"); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{
		{"net.ipv4.ip_local_port_range", "10000 65535"},
	} {
		if err := tb.cli.Sysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	for _, kv := range [][2]string{
		{"net.core.somaxconn", "65535"},
		{"net.ipv4.tcp_max_syn_backlog", "65535"},
	} {
		if err := tb.srv.Sysctl(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	if out, err := bench.Run("memcached", "-V"); err == nil {
		tb.mcVersion = strings.TrimSpace(out)
	}
	// memcached refuses to start with -c above the open-file limit.
	tb.memcached, err = tb.srv.Start(nil, "memcached", "-u", "nobody", "-l", serverIP, "-p", strconv.Itoa(port),
		"-U", "0", "-t", "2", "-c", "16384", "-b", "8192")
	if err != nil {
		return nil, err
	}
	cleanups.Add(func() { tb.memcached.Stop(15, 5*time.Second) })
	if err := bench.WaitFor(ctx, "memcached", 10*time.Second, 50*time.Millisecond, func() bool {
		return tb.cli.Do(func() error {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", serverIP, port), time.Second)
			if err == nil {
				_ = c.Close()
			}
			return err
		}) == nil
	}); err != nil {
		return nil, fmt.Errorf("%w; memcached output: %s", err, tb.memcached.Tail(10))
	}
	return tb, nil
}

// threadedNAPI enables GRO (which gives a veth a NAPI), disables TSO, and
// enables threaded NAPI on
// the interface, and returns the poller threads that appeared: receive
// processing (and the netfilter hooks it runs) then happens in those
// threads instead of in whichever process sent the packet.
func threadedNAPI(ns *bench.NS, ifc string) ([]int, error) {
	before := napiThreads()
	// veth hands a packet to the peer's NAPI only when GRO is on there and
	// the sender does not do TSO (veth_skb_is_eligible_for_gro); the
	// benchmark's packets are far too small for TSO to matter.
	if _, err := ns.Exec("ethtool", "-K", ifc, "gro", "on", "tso", "off"); err != nil {
		return nil, err
	}
	if _, err := ns.Exec("sh", "-c", "echo 1 > /sys/class/net/"+ifc+"/threaded"); err != nil {
		return nil, err
	}
	var added []int
	deadline := time.Now().Add(5 * time.Second)
	for len(added) == 0 && time.Now().Before(deadline) {
		for pid := range napiThreads() {
			if !before[pid] {
				added = append(added, pid)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(added) == 0 {
		return nil, fmt.Errorf("no NAPI thread appeared for %s in %s", ifc, ns.Name)
	}
	return added, nil
}

func napiThreads() map[int]bool {
	out := map[int]bool{}
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil || !strings.HasPrefix(string(b), "napi/") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(c)))
		out[pid] = true
	}
	return out
}

// enterPhase sets the conntrack limits of a phase: "ceiling" lowers the
// global table size and lengthens closed entries' lifetime in the server
// namespace; "below" restores the global table size and sets the lifetime
// so that the offered rate is just under the ceiling (as in the seed's
// CPU test); "" restores everything.
func (tb *testbed) enterPhase(phase string) error {
	tb.phase = phase
	switch phase {
	case "ceiling":
		if err := tb.sysctls.Set(ctMaxKey, strconv.Itoa(tb.cfg.ctMax)); err != nil {
			return err
		}
		return tb.srv.Sysctl(ctCloseKey, strconv.Itoa(int(tb.cfg.ctLifetime/time.Second)))
	case "below":
		tb.sysctls.Restore()
		return tb.srv.Sysctl(ctCloseKey, strconv.Itoa(int(tb.cfg.belowLifetime/time.Second)))
	}
	tb.sysctls.Restore()
	return tb.srv.Sysctl(ctCloseKey, "10")
}

// portEntries counts the server namespace's conntrack entries for the
// memcached port.
func (tb *testbed) portEntries() int64 {
	out, err := tb.srv.Exec("conntrack", "-L", "-p", "tcp", "--dport", strconv.Itoa(port))
	if err != nil && !strings.Contains(out, "flow entries") {
		return -1
	}
	m := flowCount.FindStringSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

var flowCount = regexp.MustCompile(`(\d+) flow entries have been shown`)

// sample is the counters read at the edges of a measurement window.
type counters struct {
	at       time.Time
	mc       time.Duration
	srvNAPI  time.Duration
	cliNAPI  time.Duration
	client   time.Duration
	sys      bench.SystemCPU
	kthreads map[int]time.Duration
	ct       bench.ConntrackStat
	ctErr    error
	clientOK bool
}

func (tb *testbed) read(clientPid int) counters {
	c := counters{at: time.Now()}
	c.mc, _ = bench.ThreadsCPU(tb.memcached.Pid())
	for _, p := range tb.srvNAPI {
		d, _ := bench.ThreadsCPU(p)
		c.srvNAPI += d
	}
	for _, p := range tb.cliNAPI {
		d, _ := bench.ThreadsCPU(p)
		c.cliNAPI += d
	}
	if d, err := bench.ThreadsCPU(clientPid); err == nil {
		c.client, c.clientOK = d, true
	}
	c.sys, _ = bench.ReadSystemCPU()
	c.kthreads = bench.KernelThreadsCPU()
	c.ct, c.ctErr = bench.ReadConntrackStat(tb.memcached.Pid())
	return c
}

// runClient runs the load generator in the client namespace for one
// scenario and samples the counters at the edges of its window.
func (tb *testbed) runClient(ctx context.Context, warmup time.Duration, rate float64) (*clientResult, counters, counters, error) {
	var srcs []string
	for i := 0; i < tb.cfg.sources; i++ {
		srcs = append(srcs, clientIP(i))
	}
	var (
		c0, c1 counters
		res    *clientResult
		perr   error
		pid    int
		got0   bool
		got1   bool
	)
	lines := make(chan string, 16)
	p, err := tb.cli.Start(func(l string) { lines <- l }, tb.self, "client",
		"-addr", fmt.Sprintf("%s:%d", serverIP, port), "-sources", strings.Join(srcs, ","),
		"-workers", strconv.Itoa(tb.cfg.workers), "-warmup", warmup.String(), "-duration", tb.cfg.duration.String(),
		"-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-timeout", tb.cfg.timeout.String())
	if err != nil {
		return nil, c0, c1, err
	}
	defer p.Stop(15, time.Second)
	pid = p.Pid()
	handle := func(l string) {
		var ev struct {
			Event  string        `json:"event"`
			Result *clientResult `json:"result"`
		}
		if json.Unmarshal([]byte(l), &ev) != nil {
			return // not ours (e.g. a Go runtime message)
		}
		switch ev.Event {
		case "measure_start":
			c0, got0 = tb.read(pid), true
		case "measure_end":
			c1, got1 = tb.read(pid), true
		case "done":
			res = ev.Result
		}
	}
	limit := time.After(warmup + tb.cfg.duration + tb.cfg.timeout + 30*time.Second)
	for res == nil && perr == nil {
		select {
		case l := <-lines:
			handle(l)
		case <-p.Done():
			// Every line was handed over before the process was reaped.
			for len(lines) > 0 {
				handle(<-lines)
			}
			if res == nil {
				perr = fmt.Errorf("client exited: %v: %s", p.Err(), p.Tail(10))
			}
		case <-limit:
			perr = fmt.Errorf("client did not finish: %s", p.Tail(10))
		case <-ctx.Done():
			perr = ctx.Err()
		}
	}
	if perr == nil && (!got0 || !got1) {
		perr = fmt.Errorf("client did not report its window")
	}
	return res, c0, c1, perr
}
