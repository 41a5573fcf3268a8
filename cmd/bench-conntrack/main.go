// Command bench-conntrack reproduces the conntrack-bypass result of the seed
// article on this machine: a memcached server host and a client host in two
// throwaway network namespaces joined by a veth pair, a client opening short
// connections (connect, one "version" request, close) from many goroutines
// and several source addresses, and four scenarios run back to back:
//
//	none         no rules at all in the server namespace: the machine's limit
//	tracked      a HostEndpoint and a normal policy allowing the port, written
//	             through etcd; the conntrack table small and closed entries
//	             long-lived, so that the ceiling is reached
//	handwritten  minimal hand-written raw-priority notrack rules: the limit
//	             for this dataplane
//	untracked    the seed's doNotTrack policy written through etcd and
//	             programmed by untrackd
//
// in two phases: "ceiling" (as fast as the client can, conntrack table
// small) and "below" (a fixed rate under the ceiling, default table and
// lifetimes, to compare CPU per connection). See docs/benchmarks.md.
//
// It needs root, memcached, nft, conntrack, ethtool and the untrackd binary
// (make bench-conntrack builds it). The global sysctl it changes
// (net.netfilter.nf_conntrack_max) is restored on every exit path short of
// SIGKILL; the namespaces, memcached and untrackd are removed at the end.
//
// "bench-conntrack client ..." is the load generator, started by the
// benchmark inside the client namespace.
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
	untrackd   string
	rounds     int
	warmup     time.Duration
	duration   time.Duration
	fillWarmup time.Duration
	ctMax      int
	ctLifetime time.Duration
	rate       float64
	// belowLifetime is the closed entries' lifetime in the below phase.
	belowLifetime time.Duration
	workers       int
	sources       int
	timeout       time.Duration
	scenarios     []string
	phases        []string
	jsonPath      string
	plotDir       string
	napi          bool
	smoke         bool
	strict        bool
	showRules     bool
}

var allScenarios = []string{"none", "tracked", "handwritten", "untracked"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "client" {
		if err := clientMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench-conntrack client:", err)
			os.Exit(1)
		}
		return
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-conntrack:", err)
		os.Exit(2)
	}
	cleanups := bench.NewCleanups()
	err = run(context.Background(), cfg, cleanups)
	cleanups.Run()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-conntrack:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench-conntrack", flag.ContinueOnError)
	var scenarios, phases string
	fs.StringVar(&c.untrackd, "untrackd", "bin/untrackd", "the untrackd binary")
	fs.IntVar(&c.rounds, "rounds", 4, "repetitions of the whole sequence (for the spread)")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "warm-up before each measurement window")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measurement window per scenario")
	fs.DurationVar(&c.fillWarmup, "fill-warmup", 10*time.Second, "warm-up of the tracked scenario in the ceiling phase (long enough to fill the table)")
	fs.IntVar(&c.ctMax, "ct-max", 65536, "global net.netfilter.nf_conntrack_max during the ceiling phase (restored afterwards)")
	fs.DurationVar(&c.ctLifetime, "ct-lifetime", 120*time.Second, "lifetime of closed connections' entries in the server namespace during the ceiling phase (nf_conntrack_tcp_timeout_close; the seed's 120 s TIME_WAIT)")
	fs.Float64Var(&c.rate, "rate", 8000, "connections per second in the below-ceiling phase")
	fs.DurationVar(&c.belowLifetime, "below-lifetime", 30*time.Second, "lifetime of closed connections' entries in the below phase: with the default table (262,144) and --rate 8000, the table is 92% full, as in the seed's CPU test (4,000/s against a 4,369/s ceiling); the tracked scenario warms up this long first")
	fs.IntVar(&c.workers, "workers", 64, "concurrent client connections")
	fs.IntVar(&c.sources, "sources", 8, "client source addresses")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Second, "per-connection timeout (connect + request)")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "scenarios to run, in order")
	fs.StringVar(&phases, "phases", "ceiling,below", "phases to run: ceiling (as fast as possible) and below (fixed --rate)")
	fs.StringVar(&c.jsonPath, "json", envOr("BENCH_JSON", "bench-conntrack.json"), "JSON results file (env BENCH_JSON)")
	fs.StringVar(&c.plotDir, "plots", "", "directory for PNG plots (none if empty)")
	fs.BoolVar(&c.napi, "napi-threads", true, "threaded NAPI on both veth ends, so the server's receive processing is attributable to its own poller thread")
	fs.BoolVar(&c.smoke, "smoke", false, "a few seconds in all: one round, short windows, a tiny table (checks that the benchmark works)")
	fs.BoolVar(&c.strict, "strict", false, "exit non-zero when a target is missed")
	fs.BoolVar(&c.showRules, "show-rules", false, "print the server namespace's ruleset of each scenario (first round)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.smoke {
		c.rounds, c.warmup, c.duration, c.fillWarmup, c.ctMax, c.rate = 1, time.Second, 2*time.Second, 2*time.Second, 8192, 2000
		c.belowLifetime = 2 * time.Second
	}
	c.scenarios = splitList(scenarios)
	c.phases = splitList(phases)
	for _, s := range c.scenarios {
		if !contains(allScenarios, s) {
			return nil, fmt.Errorf("unknown scenario %q (want %s)", s, strings.Join(allScenarios, ", "))
		}
	}
	for _, p := range c.phases {
		if p != "ceiling" && p != "below" {
			return nil, fmt.Errorf("unknown phase %q (want ceiling, below)", p)
		}
	}
	if c.rounds < 1 || c.sources < 1 || c.sources > 200 || c.workers < 1 {
		return nil, fmt.Errorf("bad --rounds, --sources or --workers")
	}
	return c, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func run(ctx context.Context, cfg *config, cleanups *bench.Cleanups) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, nftables, global sysctls)")
	}
	start := time.Now()
	tb, err := newTestbed(ctx, cfg, cleanups)
	if err != nil {
		return err
	}
	var results []*result
	for round := 1; round <= cfg.rounds; round++ {
		for _, phase := range cfg.phases {
			if err := tb.enterPhase(phase); err != nil {
				return err
			}
			for _, sc := range cfg.scenarios {
				r, err := tb.runScenario(ctx, sc, phase, round)
				if err != nil {
					return fmt.Errorf("round %d, %s/%s: %w", round, phase, sc, err)
				}
				results = append(results, r)
				fmt.Println(r.line())
			}
		}
	}
	if err := tb.enterPhase(""); err != nil { // restore the global max now
		return err
	}
	rep := newReport(cfg, tb, results, time.Since(start))
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
