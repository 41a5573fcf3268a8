package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/cmd/internal/bench"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/model"
)

const nsName = "utscale-node"

// scaleBed is the namespace, its etcd, the generated data and the
// nftables monitor.
type scaleBed struct {
	cfg      *config
	ns       *bench.NS
	cli      *clientv3.Client
	data     *dataset
	events   chan bench.NftEvent
	mon      *bench.NftMonitor
	self     string
	untrackd string
	dir      string
	// env is the current "env" label of the endpoints the label changes
	// toggle; polPort the port the policy changes set last.
	env map[string]string
}

func run(ctx context.Context, cfg *config, cleanups *bench.Cleanups) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, nftables)")
	}
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (make deps)", tool)
		}
	}
	started := time.Now()
	sb := &scaleBed{cfg: cfg, env: map[string]string{}}
	var err error
	if sb.self, err = os.Executable(); err != nil {
		return err
	}
	if sb.untrackd, err = filepath.Abs(cfg.untrackd); err != nil {
		return err
	}
	if _, err := os.Stat(sb.untrackd); err != nil && slices.Contains(cfg.daemons, "binary") {
		return fmt.Errorf("untrackd binary: %w (make build)", err)
	}
	if sb.dir, err = os.MkdirTemp("", "bench-scale-"); err != nil {
		return err
	}
	cleanups.Add(func() { _ = os.RemoveAll(sb.dir) })
	if sb.ns, err = bench.NewNS(nsName); err != nil {
		return err
	}
	cleanups.Add(sb.ns.Delete)
	etcd, err := sb.ns.Start(nil, sb.self, "etcd", "--dir", filepath.Join(sb.dir, "etcd"))
	if err != nil {
		return err
	}
	cleanups.Add(func() { etcd.Stop(syscall.SIGTERM, 10*time.Second) })
	if sb.cli, err = bench.EtcdClient(sb.ns, "127.0.0.1:2379"); err != nil {
		return err
	}
	cleanups.Add(func() { _ = sb.cli.Close() })
	if err := bench.WaitEtcd(ctx, sb.cli, 60*time.Second); err != nil {
		return fmt.Errorf("%w: %s", err, etcd.Tail(10))
	}

	genStart := time.Now()
	sb.data = generate(cfg.gen)
	loaded, bytes, err := sb.load(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("datastore: %d HostEndpoints (%d on %s), %d GlobalNetworkPolicies (%d untracked and %d normal active here), %d GlobalNetworkSets with %d CIDRs; %d keys, %.1f MB written to etcd in %v\n",
		len(sb.data.heps), len(sb.data.local), thisNode, len(sb.data.policies), len(sb.data.activeUntracked), sb.data.activeNormal,
		len(sb.data.netsets), sb.data.cidrs, loaded, float64(bytes)/1e6, time.Since(genStart).Round(time.Millisecond))

	sb.events = make(chan bench.NftEvent, 1<<20)

	rep := &report{Machine: bench.ThisMachine(), Command: bench.CommandLine(), Started: started.UTC().Format(time.RFC3339),
		Datastore: map[string]any{
			"host_endpoints": len(sb.data.heps), "local_host_endpoints": len(sb.data.local), "nodes": cfg.gen.nodes,
			"policies": len(sb.data.policies), "untracked_share": cfg.gen.untrackedShare,
			"active_untracked_policies": len(sb.data.activeUntracked), "active_normal_policies": sb.data.activeNormal,
			"network_sets": len(sb.data.netsets), "cidrs": sb.data.cidrs, "etcd_keys": loaded, "etcd_bytes": bytes, "seed": cfg.gen.seed,
		}, cfg: cfg}
	for _, kind := range cfg.daemons {
		dr, err := sb.measure(ctx, kind)
		if err != nil {
			return fmt.Errorf("%s daemon: %w", kind, err)
		}
		rep.daemons = append(rep.daemons, dr)
	}
	rep.Seconds = time.Since(started).Seconds()
	rep.build()
	rep.print(os.Stdout)
	if err := rep.writeJSON(cfg.jsonPath); err != nil {
		return err
	}
	fmt.Printf("\nJSON: %s\n", cfg.jsonPath)
	if cfg.plotDir != "" {
		files, err := rep.plots(cfg.plotDir)
		if err != nil {
			return err
		}
		fmt.Printf("plots: %s\n", strings.Join(files, ", "))
	}
	if missed := rep.missed(); len(missed) > 0 && cfg.strict {
		return fmt.Errorf("targets missed: %s", strings.Join(missed, "; "))
	}
	return nil
}

// load writes every resource with transactions of 64 puts.
func (sb *scaleBed) load(ctx context.Context) (keys, bytes int, err error) {
	var kvs [][2]string
	for _, h := range sb.data.heps {
		kvs = append(kvs, [2]string{keyOf(model.KindHostEndpoint, h.Metadata.Name), encode(h)})
		sb.env[h.Metadata.Name] = h.Metadata.Labels["env"]
	}
	for _, s := range sb.data.netsets {
		kvs = append(kvs, [2]string{keyOf(model.KindGlobalNetworkSet, s.Metadata.Name), encode(s)})
	}
	for _, p := range sb.data.policies {
		kvs = append(kvs, [2]string{keyOf(model.KindGlobalNetworkPolicy, p.Metadata.Name), encode(p)})
	}
	for len(kvs) > 0 {
		n := min(64, len(kvs))
		var ops []clientv3.Op
		for _, kv := range kvs[:n] {
			ops = append(ops, clientv3.OpPut(kv[0], kv[1]))
			bytes += len(kv[0]) + len(kv[1])
		}
		c, cancel := context.WithTimeout(ctx, 60*time.Second)
		_, err := sb.cli.Txn(c).Then(ops...).Commit()
		cancel()
		if err != nil {
			return keys, bytes, fmt.Errorf("loading etcd: %w", err)
		}
		keys += n
		kvs = kvs[n:]
	}
	return keys, bytes, nil
}

// daemonResult is what one daemon measured.
type daemonResult struct {
	Daemon        string  `json:"daemon"`
	ColdStartS    float64 `json:"cold_start_s"`
	ColdStartLogS float64 `json:"cold_start_log_s"` // when the daemon said so (log line or apply report)
	ColdOps       int     `json:"cold_start_operations,omitempty"`
	ColdBytes     int     `json:"cold_start_bytes,omitempty"`
	ColdApplyMs   float64 `json:"cold_start_apply_ms,omitempty"` // the first apply alone (render, plan, netlink)
	MonitorLost   int     `json:"monitor_overruns"`
	Table         struct {
		Chains, Rules, Sets, Elements int
		// ReadBackMs and ReadBackCPUMs: one List of the whole table (what
		// the daemon's refresh and generation watch do), wall and CPU time.
		ReadBackMs    float64 `json:"read_back_ms"`
		ReadBackCPUMs float64 `json:"read_back_cpu_ms"`
	} `json:"table"`
	Policy   *series `json:"policy_changes"`
	Label    *series `json:"label_changes"`
	PeakRSS  int64   `json:"peak_rss_bytes"`
	RSSAfter int64   `json:"rss_after_bytes"`
}

// series is one kind of change repeated.
type series struct {
	Kind    string          `json:"kind"`
	Changes int             `json:"changes"`
	Missed  int             `json:"missed"` // not seen in the kernel within 5 s
	Early   int             `json:"early"`  // seen before the put returned (counted as 0)
	lat     []time.Duration // from the put's return to the commit's notification
	bytes   []int           // netlink bytes of the applies the change caused (shadow)
	ops     []int
	Stats   latencyStats    `json:"latency"`
	Bytes   *bytesStats     `json:"bytes,omitempty"`
	Hist    bench.Histogram `json:"hist"`
}

type latencyStats struct {
	P50ms, P90ms, P99ms, MaxMs, MeanMs float64
}

type bytesStats struct {
	P50, P99, Max, Min int
	OpsP50, OpsMax     int
}

// measure starts one daemon cold on the loaded datastore, times it to
// fully programmed, runs the changes, and stops it and removes its table.
func (sb *scaleBed) measure(ctx context.Context, kind string) (*daemonResult, error) {
	dr := &daemonResult{Daemon: kind}
	sb.drain()
	applies := make(chan applyLine, 1<<16)
	var logProgrammed = make(chan time.Time, 1)
	onLine := func(l string) {
		switch {
		case kind == "binary" && strings.Contains(l, "dataplane programmed"):
			select {
			case logProgrammed <- time.Now():
			default:
			}
		case kind == "shadow" && strings.HasPrefix(l, "{"):
			var a applyLine
			if json.Unmarshal([]byte(l), &a) == nil && a.Apply {
				if a.Ops > 0 {
					select {
					case logProgrammed <- time.Now():
					default:
					}
				}
				applies <- a
			}
		}
	}
	var args []string
	name := sb.untrackd
	if kind == "binary" {
		args = []string{"--etcd-endpoints", "http://127.0.0.1:2379", "--node-name", thisNode, "--log-level", "info"}
	} else {
		name = sb.self
		args = []string{"shadow", "--etcd-endpoints", "http://127.0.0.1:2379", "--node-name", thisNode}
		if sb.cfg.cpuprof != "" {
			args = append(args, "--cpuprofile", absPath(sb.cfg.cpuprof))
		}
		if sb.cfg.memprof != "" {
			args = append(args, "--memprofile", absPath(sb.cfg.memprof))
		}
	}
	t0 := time.Now()
	p, err := sb.ns.Start(onLine, name, args...)
	if err != nil {
		return nil, err
	}
	defer sb.stop(p)

	// Cold start. The kernel builds a notification per object of a
	// transaction only while someone listens, so a monitor during the cold
	// start (300,000 set elements) makes the commit itself slower: by
	// default the end is the daemon's own report (its log line, or the
	// shadow's apply report), and the monitor starts afterwards.
	if sb.cfg.coldMonitor {
		if err := sb.startMonitor(); err != nil {
			return nil, err
		}
		var tCommit time.Time
		sawTable := false
		deadline := time.After(3 * time.Minute)
		for tCommit.IsZero() {
			select {
			case ev := <-sb.events:
				if ev.IsNewTable() && ev.Table == nft.TableName {
					sawTable = true
				}
				if sawTable && ev.IsGen() {
					tCommit = ev.At
				}
			case <-p.Done():
				return nil, fmt.Errorf("exited during start-up: %v: %s", p.Err(), p.Tail(15))
			case <-deadline:
				return nil, fmt.Errorf("not programmed after 3 minutes: %s", p.Tail(15))
			}
		}
		dr.ColdStartS = tCommit.Sub(t0).Seconds()
		dr.MonitorLost = sb.mon.Lost()
	}
	select {
	case t := <-logProgrammed:
		dr.ColdStartLogS = t.Sub(t0).Seconds()
	case <-p.Done():
		return nil, fmt.Errorf("exited during start-up: %v: %s", p.Err(), p.Tail(15))
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("not programmed after 3 minutes: %s", p.Tail(15))
	}
	if !sb.cfg.coldMonitor {
		dr.ColdStartS = dr.ColdStartLogS
		if err := sb.startMonitor(); err != nil {
			return nil, err
		}
	}
	defer sb.stopMonitor()
	if kind == "shadow" {
		for _, a := range drainApplies(applies, 0) {
			if a.Ops > 0 && dr.ColdOps == 0 {
				dr.ColdOps, dr.ColdBytes, dr.ColdApplyMs = a.Ops, a.Bytes, a.TookMs
			}
		}
	}
	if err := sb.countTable(dr); err != nil {
		return nil, err
	}
	first := ""
	if dr.ColdApplyMs > 0 {
		first = fmt.Sprintf("; its first apply alone took %.0f ms", dr.ColdApplyMs)
	}
	fmt.Printf("%s: cold start %.2f s%s; table: %d chains, %d rules, %d sets, %d elements\n",
		kind, dr.ColdStartS, first, dr.Table.Chains, dr.Table.Rules, dr.Table.Sets, dr.Table.Elements)
	time.Sleep(time.Second)

	if dr.Policy, err = sb.policyChanges(ctx, p, applies, kind == "shadow"); err != nil {
		return nil, err
	}
	fmt.Printf("%s: %d policy changes: p50 %.2f ms, p99 %.2f ms, max %.2f ms, missed %d\n", kind, dr.Policy.Changes,
		dr.Policy.Stats.P50ms, dr.Policy.Stats.P99ms, dr.Policy.Stats.MaxMs, dr.Policy.Missed)
	if dr.Label, err = sb.labelChanges(ctx, p, applies, kind == "shadow"); err != nil {
		return nil, err
	}
	fmt.Printf("%s: %d label changes: p50 %.2f ms, p99 %.2f ms, max %.2f ms, missed %d\n", kind, dr.Label.Changes,
		dr.Label.Stats.P50ms, dr.Label.Stats.P99ms, dr.Label.Stats.MaxMs, dr.Label.Missed)
	dr.PeakRSS, dr.RSSAfter, err = bench.PeakRSS(p.Pid())
	if err != nil {
		return nil, err
	}
	return dr, nil
}

func (sb *scaleBed) startMonitor() error {
	var err error
	sb.mon, err = bench.MonitorNft(sb.ns, 256<<20, func(e bench.NftEvent) { sb.events <- e })
	return err
}

func (sb *scaleBed) stopMonitor() {
	if sb.mon != nil {
		sb.mon.Close()
		sb.mon = nil
	}
	sb.drain()
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// stop ends a daemon and removes its table, so the next one starts cold.
func (sb *scaleBed) stop(p *bench.Proc) {
	p.Stop(syscall.SIGTERM, 20*time.Second)
	_, _ = sb.ns.Exec("nft", "delete", "table", "inet", nft.TableName)
}

// countTable reads the table back once (after the measurement of the cold
// start) to record its size.
func (sb *scaleBed) countTable(dr *daemonResult) error {
	return sb.ns.Do(func() error {
		w, err := nft.NewNetlink()
		if err != nil {
			return err
		}
		defer w.Close()
		cpu0, t0 := processCPU(), time.Now()
		st, err := w.List(context.Background())
		dr.Table.ReadBackMs = float64(time.Since(t0).Microseconds()) / 1000
		dr.Table.ReadBackCPUMs = float64((processCPU() - cpu0).Microseconds()) / 1000
		if err != nil || st == nil {
			return fmt.Errorf("reading the table back: %v (present: %v)", err, st != nil)
		}
		dr.Table.Chains, dr.Table.Sets = len(st.Chains), len(st.Sets)
		for _, c := range st.Chains {
			dr.Table.Rules += len(c.Rules)
		}
		for _, s := range st.Sets {
			dr.Table.Elements += len(s.Elements)
		}
		return nil
	})
}

func (sb *scaleBed) drain() {
	for {
		select {
		case <-sb.events:
		default:
			return
		}
	}
}

// drainApplies returns the apply reports waiting, waiting up to wait for
// the first.
func drainApplies(ch chan applyLine, wait time.Duration) []applyLine {
	var out []applyLine
	if wait > 0 {
		select {
		case a := <-ch:
			out = append(out, a)
		case <-time.After(wait):
			return nil
		}
	}
	for {
		select {
		case a := <-ch:
			out = append(out, a)
		default:
			return out
		}
	}
}

// change puts one value and waits for the commit that carries it.
func (sb *scaleBed) change(ctx context.Context, p *bench.Proc, s *series, key, value string, match func(bench.NftEvent) bool,
	applies chan applyLine, shadow bool) error {
	sb.drain()
	drainApplies(applies, 0)
	if err := bench.Put(ctx, sb.cli, key, value); err != nil {
		return err
	}
	tRet := time.Now()
	s.Changes++
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev := <-sb.events:
			if !match(ev) {
				continue
			}
			lat := ev.At.Sub(tRet)
			if lat < 0 {
				s.Early++
				lat = 0
			}
			s.lat = append(s.lat, lat)
			if shadow {
				total, ops := 0, 0
				for _, a := range drainApplies(applies, 2*time.Second) {
					total += a.Bytes
					ops += a.Ops
				}
				// An apply report can trail the next one by a little.
				time.Sleep(5 * time.Millisecond)
				for _, a := range drainApplies(applies, 0) {
					total += a.Bytes
					ops += a.Ops
				}
				s.bytes = append(s.bytes, total)
				s.ops = append(s.ops, ops)
			}
			return nil
		case <-p.Done():
			return fmt.Errorf("daemon exited: %v: %s", p.Err(), p.Tail(15))
		case <-timeout:
			s.Missed++
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// policyChanges changes the port of the first ingress rule of active
// untracked policies in turn; the change is in the kernel when the
// policy's ingress chain gets its new rule.
func (sb *scaleBed) policyChanges(ctx context.Context, p *bench.Proc, applies chan applyLine, shadow bool) (*series, error) {
	s := &series{Kind: "policy"}
	var pols []*model.GlobalNetworkPolicy
	for _, pol := range sb.data.activeUntracked {
		if len(pol.Spec.Ingress) > 0 && pol.Metadata.Name != "gnp-00000" {
			pols = append(pols, pol)
		}
	}
	if len(pols) == 0 {
		return nil, fmt.Errorf("no active untracked policy to change")
	}
	pols = pols[:min(len(pols), 20)]
	for i := 0; i < sb.cfg.changes; i++ {
		pol := pols[i%len(pols)]
		r := &pol.Spec.Ingress[0]
		if r.Protocol == nil {
			r.Protocol = tcp()
		}
		r.Destination.Ports = []model.Port{model.SinglePort(uint16(20000 + i%40000))}
		chain := "pol-untracked-in-" + pol.Metadata.Name
		match := func(ev bench.NftEvent) bool {
			return ev.IsNewRule() && ev.Table == nft.TableName && ev.Chain == chain
		}
		if err := sb.change(ctx, p, s, keyOf(model.KindGlobalNetworkPolicy, pol.Metadata.Name), encode(pol), match, applies, shadow); err != nil {
			return nil, err
		}
		time.Sleep(sb.cfg.gap)
	}
	s.finish()
	return s, nil
}

// labelChanges toggles the env label of remote endpoints the memcached
// policy's peer selector picks (prod → staging: the address leaves the IP
// set; back: it joins again).
func (sb *scaleBed) labelChanges(ctx context.Context, p *bench.Proc, applies chan applyLine, shadow bool) (*series, error) {
	s := &series{Kind: "label"}
	var peers []*model.HostEndpoint
	for _, h := range sb.data.heps {
		if isMemcachedPeer(h) {
			peers = append(peers, h)
		}
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("no remote endpoint for label changes")
	}
	for i := 0; i < sb.cfg.changes; i++ {
		h := peers[(i/2)%len(peers)]
		if sb.env[h.Metadata.Name] == "prod" {
			sb.env[h.Metadata.Name] = "staging"
		} else {
			sb.env[h.Metadata.Name] = "prod"
		}
		h.Metadata.Labels["env"] = sb.env[h.Metadata.Name]
		ip := netip.MustParseAddr(h.Spec.ExpectedIPs[0]).As4()
		match := func(ev bench.NftEvent) bool {
			if !ev.IsSetElem() || ev.Table != nft.TableName {
				return false
			}
			return slices.ContainsFunc(ev.Keys, func(k []byte) bool { return string(k) == string(ip[:]) })
		}
		if err := sb.change(ctx, p, s, keyOf(model.KindHostEndpoint, h.Metadata.Name), encode(h), match, applies, shadow); err != nil {
			return nil, err
		}
		time.Sleep(sb.cfg.gap)
	}
	s.finish()
	return s, nil
}

func (s *series) finish() {
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	s.Stats = latencyStats{P50ms: ms(bench.Quantile(lat, 0.5)), P90ms: ms(bench.Quantile(lat, 0.9)),
		P99ms: ms(bench.Quantile(lat, 0.99)), MaxMs: ms(bench.Quantile(lat, 1))}
	if len(lat) > 0 {
		s.Stats.MeanMs = ms(sum / time.Duration(len(lat)))
	}
	s.Hist = bench.LogHistogram(lat, 0.1, 10000, 20)
	if len(s.bytes) > 0 {
		b, o := slices.Clone(s.bytes), slices.Clone(s.ops)
		slices.Sort(b)
		slices.Sort(o)
		q := func(xs []int, f float64) int {
			i := int(float64(len(xs))*f+0.999999) - 1
			return xs[max(0, min(i, len(xs)-1))]
		}
		s.Bytes = &bytesStats{P50: q(b, 0.5), P99: q(b, 0.99), Max: b[len(b)-1], Min: b[0], OpsP50: q(o, 0.5), OpsMax: o[len(o)-1]}
	}
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
