// Command bench-scale measures untrackd's control plane at scale: a
// generated datastore (10,000 HostEndpoints cluster-wide, a few on this
// node; 2,000 GlobalNetworkPolicies, mixed untracked and normal, with
// selectors of realistic shapes; GlobalNetworkSets totalling 100,000 CIDRs)
// in an etcd of its own, and untrackd in a throwaway network namespace.
// It measures
//
//   - cold start: from starting the daemon to the table fully programmed
//     (the kernel's notification of the first transaction's commit);
//   - etcd put → rule in the kernel: for single-policy and single-label
//     changes, from the put's return to the kernel's notification of the
//     commit that carries the change (nftables events, so the measurement
//     does not poll the ruleset);
//   - bytes sent to the kernel per incremental change (nft.StatsWriter);
//   - the daemon's peak RSS.
//
// It runs two daemons one after the other against the same datastore:
// "binary", the untrackd binary itself (cold start, latency, RSS), and
// "shadow", untrackd's packages wired as the daemon wires them, with the
// netlink writer instrumented (bytes per change; the same latencies as a
// cross-check; --cpuprofile and --memprofile for profiles).
//
// "bench-scale etcd" and "bench-scale shadow" are those children, started by
// the benchmark inside the namespace. Needs root.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

type config struct {
	untrackd string
	gen      genConfig
	changes  int
	gap      time.Duration
	daemons  []string
	jsonPath string
	plotDir  string
	cpuprof  string
	memprof  string
	smoke    bool
	strict   bool
	// coldMonitor times the cold start by the kernel's commit notification
	// (which makes the commit slower) instead of the daemon's report.
	coldMonitor bool
}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "etcd":
			err = etcdMain(os.Args[2:])
		case "shadow":
			err = shadowMain(os.Args[2:])
		default:
			goto bench
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-scale %s: %v\n", os.Args[1], err)
			os.Exit(1)
		}
		return
	}
bench:
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(2)
	}
	cleanups := bench.NewCleanups()
	err = run(context.Background(), cfg, cleanups)
	cleanups.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench-scale", flag.ContinueOnError)
	var daemons string
	fs.StringVar(&c.untrackd, "untrackd", "bin/untrackd", "the untrackd binary")
	fs.IntVar(&c.gen.heps, "heps", 10000, "HostEndpoints cluster-wide")
	fs.IntVar(&c.gen.nodes, "nodes", 1000, "nodes they are spread over")
	fs.IntVar(&c.gen.localHEPs, "local-heps", 4, "HostEndpoints on this node")
	fs.IntVar(&c.gen.policies, "policies", 2000, "GlobalNetworkPolicies")
	fs.Float64Var(&c.gen.untrackedShare, "untracked-share", 0.3, "share of policies that are doNotTrack")
	fs.IntVar(&c.gen.netsets, "netsets", 200, "GlobalNetworkSets")
	fs.IntVar(&c.gen.cidrs, "cidrs", 100000, "CIDRs over all GlobalNetworkSets")
	fs.Uint64Var(&c.gen.seed, "seed", 1, "generator seed")
	fs.IntVar(&c.changes, "changes", 1000, "changes of each kind (policy, label) per daemon")
	fs.DurationVar(&c.gap, "gap", 20*time.Millisecond, "pause between one change landing and the next put")
	fs.StringVar(&daemons, "daemons", "binary,shadow", "daemons to measure, in order: binary (the untrackd binary), shadow (its packages, instrumented)")
	fs.StringVar(&c.jsonPath, "json", envOr("BENCH_JSON", "bench-scale.json"), "JSON results file (env BENCH_JSON)")
	fs.StringVar(&c.plotDir, "plots", "", "directory for PNG plots (none if empty)")
	fs.StringVar(&c.cpuprof, "cpuprofile", "", "CPU profile of the shadow daemon (whole run)")
	fs.StringVar(&c.memprof, "memprofile", "", "heap profile of the shadow daemon (at exit)")
	fs.BoolVar(&c.coldMonitor, "cold-start-monitor", false, "time the cold start by the kernel's commit notification (listening makes the kernel build a notification per element, which slows the commit) instead of the daemon's own report")
	fs.BoolVar(&c.smoke, "smoke", false, "a small datastore and few changes: checks that the benchmark works")
	fs.BoolVar(&c.strict, "strict", false, "exit non-zero when a target is missed")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.smoke {
		c.gen = genConfig{nodes: 50, heps: 500, localHEPs: 4, policies: 100, untrackedShare: 0.3, netsets: 10, cidrs: 2000, seed: c.gen.seed}
		c.changes = 30
	}
	for _, d := range strings.Split(daemons, ",") {
		if d = strings.TrimSpace(d); d != "" {
			if d != "binary" && d != "shadow" {
				return nil, fmt.Errorf("unknown daemon %q (want binary, shadow)", d)
			}
			c.daemons = append(c.daemons, d)
		}
	}
	if c.gen.localHEPs < 2 || c.gen.heps <= c.gen.localHEPs || c.gen.nodes < 2 || c.gen.policies < 2 || c.changes < 1 {
		return nil, fmt.Errorf("need at least 2 local endpoints, more endpoints than that, 2 nodes, 2 policies and 1 change")
	}
	return c, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
