package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

// summary is one scenario in one phase over all rounds: totals for counts,
// medians (with spread) for rates, latencies and CPU.
type summary struct {
	Scenario        string                  `json:"scenario"`
	Phase           string                  `json:"phase"`
	Rounds          int                     `json:"rounds"`
	Succeeded       int64                   `json:"succeeded"`
	Failed          int64                   `json:"failed"`
	ConnPerS        float64                 `json:"conn_per_s"`
	P50ms           float64                 `json:"p50_ms"`
	P99ms           float64                 `json:"p99_ms"`
	CTEntries       float64                 `json:"ct_entries"`
	CTPortEntries   float64                 `json:"ct_entries_port"`
	CTDrops         int64                   `json:"ct_drops"`
	AtCeiling       bool                    `json:"at_ceiling"`
	CPUMsPer1k      float64                 `json:"cpu_ms_per_1k"`
	ProcMsPer1k     float64                 `json:"proc_ms_per_1k"`
	RxMsPer1k       float64                 `json:"rx_softirq_ms_per_1k"`
	KthreadsMsPer1k float64                 `json:"kthreads_ms_per_1k"`
	SoftirqMsPer1k  float64                 `json:"sys_softirq_ms_per_1k"`
	BusyMsPer1k     float64                 `json:"busy_ms_per_1k"`
	Stateful        string                  `json:"stateful,omitempty"`
	Spread          map[string]bench.Spread `json:"spread"`
}

// target is one of the targets and whether this run met it.
type target struct {
	Name     string       `json:"name"`
	Want     string       `json:"want"`
	Got      string       `json:"got"`
	Met      bool         `json:"met"`
	PerRound []float64    `json:"per_round,omitempty"`
	Spread   bench.Spread `json:"spread"`
}

type report struct {
	Machine   bench.Machine  `json:"machine"`
	Command   string         `json:"command"`
	Started   string         `json:"started"`
	Seconds   float64        `json:"seconds"`
	Memcached string         `json:"memcached"`
	Config    map[string]any `json:"config"`
	Scenarios []summary      `json:"scenarios"`
	Targets   []target       `json:"targets"`
	Runs      []*result      `json:"runs"`
	Notes     []string       `json:"notes"`
	results   []*result
	cfg       *config
}

func newReport(cfg *config, tb *testbed, rs []*result, took time.Duration) *report {
	rep := &report{
		Machine: bench.ThisMachine(), Command: bench.CommandLine(), Started: time.Now().Add(-took).UTC().Format(time.RFC3339),
		Seconds: took.Seconds(), Memcached: tb.mcVersion, Runs: rs, results: rs, cfg: cfg,
		Config: map[string]any{
			"rounds": cfg.rounds, "warmup_s": cfg.warmup.Seconds(), "duration_s": cfg.duration.Seconds(),
			"fill_warmup_s": cfg.fillWarmup.Seconds(), "ceiling_nf_conntrack_max": cfg.ctMax,
			"ceiling_close_lifetime_s": cfg.ctLifetime.Seconds(), "below_rate": cfg.rate, "workers": cfg.workers,
			"sources": cfg.sources, "timeout_s": cfg.timeout.Seconds(), "napi_threads": cfg.napi,
			"nf_conntrack_max_default": tb.ctMaxOrig, "smoke": cfg.smoke,
		},
	}
	for _, ph := range cfg.phases {
		for _, sc := range cfg.scenarios {
			if s, ok := rep.summarise(sc, ph); ok {
				rep.Scenarios = append(rep.Scenarios, s)
			}
		}
	}
	for _, s := range rep.Scenarios {
		if s.Stateful == "stand-in" && (s.Scenario == "tracked" || s.Scenario == "untracked") {
			rep.Notes = append(rep.Notes, "untrackd programs no conntrack-using rules for normal policy yet (issue 3), so the "+
				"benchmark added its own stateful stand-in table (inet utbench-stateful: input, ct state established,related accept) "+
				"to make the server namespace track; it switches to untrackd's own chains automatically once they use ct")
			break
		}
	}
	rep.Targets = rep.targets()
	return rep
}

func (rep *report) pick(sc, ph string) []*result {
	var out []*result
	for _, r := range rep.results {
		if r.Scenario == sc && r.Phase == ph {
			out = append(out, r)
		}
	}
	return out
}

func (rep *report) summarise(sc, ph string) (summary, bool) {
	rs := rep.pick(sc, ph)
	if len(rs) == 0 {
		return summary{}, false
	}
	s := summary{Scenario: sc, Phase: ph, Rounds: len(rs), AtCeiling: true, Spread: map[string]bench.Spread{}}
	fig := func(name string, f func(*result) float64) float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		sp := bench.SpreadOf(xs)
		s.Spread[name] = sp
		return sp.Median
	}
	for _, r := range rs {
		s.Succeeded += r.Succeeded
		s.Failed += r.Failed
		s.CTDrops += r.CTDrop + r.CTEarlyDrop + r.CTInsertFailed
		s.AtCeiling = s.AtCeiling && r.AtCeiling
		s.Stateful = r.Stateful
	}
	s.ConnPerS = fig("conn_per_s", func(r *result) float64 { return r.ConnPerS })
	s.P50ms = fig("p50_ms", func(r *result) float64 { return r.P50ms })
	s.P99ms = fig("p99_ms", func(r *result) float64 { return r.P99ms })
	s.CTEntries = fig("ct_entries", func(r *result) float64 { return float64(r.CTEntries) })
	s.CTPortEntries = fig("ct_entries_port", func(r *result) float64 { return float64(r.CTPortEntries) })
	s.KthreadsMsPer1k = fig("kthreads_ms_per_1k", func(r *result) float64 { return r.KthreadsMsPer1k })
	s.CPUMsPer1k = fig("cpu_ms_per_1k", func(r *result) float64 { return r.CPUMsPer1k })
	s.ProcMsPer1k = fig("proc_ms_per_1k", func(r *result) float64 { return r.ProcMsPer1k })
	s.RxMsPer1k = fig("rx_softirq_ms_per_1k", func(r *result) float64 { return r.RxMsPer1k })
	s.SoftirqMsPer1k = fig("sys_softirq_ms_per_1k", func(r *result) float64 { return r.SoftirqMsPer1k })
	s.BusyMsPer1k = fig("busy_ms_per_1k", func(r *result) float64 { return r.BusyMsPer1k })
	return s, true
}

// ratio returns, per round, a(r)/b(r) of two scenarios in a phase (rounds
// where both ran), so that noise common to a round cancels. A zero
// denominator is replaced by floor (a lower bound for the ratio then).
func (rep *report) ratio(ph, a, b string, f func(*result) float64, floor float64) []float64 {
	ra, rb := rep.pick(a, ph), rep.pick(b, ph)
	var out []float64
	for _, x := range ra {
		for _, y := range rb {
			if x.Round != y.Round {
				continue
			}
			if d := max(f(y), floor); d > 0 {
				out = append(out, f(x)/d)
			}
		}
	}
	return out
}

func (rep *report) targets() []target {
	var ts []target
	rate := func(r *result) float64 { return r.ConnPerS }
	cpu := func(r *result) float64 { return r.CPUMsPer1k }
	add := func(name, want string, per []float64, ok func(float64) bool, extra bool, got string) {
		if len(per) == 0 {
			return
		}
		sp := bench.SpreadOf(per)
		ts = append(ts, target{Name: name, Want: want, PerRound: per, Spread: sp, Met: ok(sp.Median) && extra,
			Got: fmt.Sprintf("%.3g (rounds %.3g–%.3g)%s", sp.Median, sp.Min, sp.Max, got)})
	}
	failedUntracked := int64(0)
	for _, r := range rep.pick("untracked", "ceiling") {
		failedUntracked += r.Failed
	}
	atCeiling := true
	for _, r := range rep.pick("tracked", "ceiling") {
		atCeiling = atCeiling && r.AtCeiling
	}
	add("untracked ÷ tracked conn/s, tracked at its ceiling (a tracked round with no success counts as one)", "≥ 10, untracked 0 failed",
		rep.ratio("ceiling", "untracked", "tracked", rate, 1/rep.cfg.duration.Seconds()), func(x float64) bool { return x >= 10 },
		failedUntracked == 0 && atCeiling,
		fmt.Sprintf("; untracked failed %d; tracked at ceiling in every round: %v", failedUntracked, atCeiling))
	add("untracked ÷ handwritten conn/s (ceiling phase)", "≥ 0.95",
		rep.ratio("ceiling", "untracked", "handwritten", rate, 0), func(x float64) bool { return x >= 0.95 }, true, "")
	add("untracked ÷ handwritten CPU per connection (below phase, same rate)", "≤ 1.05",
		rep.ratio("below", "untracked", "handwritten", cpu, 0), func(x float64) bool { return x <= 1.05 }, true, "")
	add("untracked ÷ tracked CPU per connection (below the ceiling)", "< 1 (the seed: ≈ 0.8)",
		rep.ratio("below", "untracked", "tracked", cpu, 0), func(x float64) bool { return x < 1 }, true, "")
	return ts
}

func (rep *report) missed() []string {
	var out []string
	for _, t := range rep.Targets {
		if !t.Met {
			out = append(out, t.Name+": "+t.Got)
		}
	}
	return out
}

func (rep *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nbench-conntrack: %d round(s), %s, %d cores, kernel %s, %s\n", rep.cfg.rounds, rep.Machine.CPU,
		rep.Machine.Cores, rep.Machine.Kernel, rep.Memcached)
	fmt.Fprintf(w, "ceiling phase: nf_conntrack_max %d (global, restored to %s), closed entries live %v in the server namespace; below phase: %.0f conn/s, default table and lifetimes\n",
		rep.cfg.ctMax, rep.Config["nf_conntrack_max_default"], rep.cfg.ctLifetime, rep.cfg.rate)
	fmt.Fprintf(w, "medians over rounds [min–max]; succeeded/failed are totals; CPU in ms per 1,000 successful connections\n\n")
	fmt.Fprintf(w, "%-8s %-12s %20s %10s %8s %8s %16s %9s %9s %9s %18s %7s %7s %7s %7s\n",
		"phase", "scenario", "conn/s", "succeeded", "failed", "p50 ms", "p99 ms", "ct entr.", "ct :port", "ct drops", "cpu/1k (server)", "proc", "rx", "kthr", "busy")
	for _, s := range rep.Scenarios {
		cr, p99, cpu := s.Spread["conn_per_s"], s.Spread["p99_ms"], s.Spread["cpu_ms_per_1k"]
		fmt.Fprintf(w, "%-8s %-12s %6.0f [%5.0f–%5.0f] %10d %8d %8.2f %6.1f [%.0f–%.0f] %9.0f %9.0f %9d %6.1f [%4.1f–%4.1f] %7.1f %7.1f %7.1f %7.1f\n",
			s.Phase, s.Scenario, s.ConnPerS, cr.Min, cr.Max, s.Succeeded, s.Failed, s.P50ms, s.P99ms, p99.Min, p99.Max,
			s.CTEntries, s.CTPortEntries, s.CTDrops, s.CPUMsPer1k, cpu.Min, cpu.Max, s.ProcMsPer1k, s.RxMsPer1k, s.KthreadsMsPer1k, s.BusyMsPer1k)
	}
	fmt.Fprintln(w)
	for _, t := range rep.Targets {
		mark := "MET "
		if !t.Met {
			mark = "MISS"
		}
		fmt.Fprintf(w, "[%s] %s: want %s, got %s\n", mark, t.Name, t.Want, t.Got)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// plots writes conn/s over time (ceiling phase, last round) and the
// connect-latency distributions (each phase, all rounds) as PNGs.
func (rep *report) plots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var files []string
	for _, ph := range rep.cfg.phases {
		var rate, lat []bench.Series
		for _, sc := range rep.cfg.scenarios {
			rs := rep.pick(sc, ph)
			if len(rs) == 0 {
				continue
			}
			last := rs[len(rs)-1].Client
			s := bench.Series{Name: sc}
			for i, n := range last.OKPerSecond {
				s.X = append(s.X, float64(i-last.WarmupSeconds)+0.5)
				s.Y = append(s.Y, float64(n))
			}
			rate = append(rate, s)
			var h bench.Histogram
			for _, r := range rs {
				h.Add(r.Client.Hist)
			}
			lat = append(lat, cdf(sc, h))
		}
		title := "successful connections per second (0 = start of the measurement window)"
		if ph == "ceiling" {
			title += fmt.Sprintf(", conntrack table %d, closed entries %v", rep.cfg.ctMax, rep.cfg.ctLifetime)
		} else {
			title += fmt.Sprintf(", offered %.0f/s", rep.cfg.rate)
		}
		f := filepath.Join(dir, "bench-conntrack-rate-"+ph+".png")
		if err := bench.LinePlot(f, title, "seconds", "conn/s (log)", rate, false, true); err != nil {
			return nil, err
		}
		files = append(files, f)
		f = filepath.Join(dir, "bench-conntrack-latency-"+ph+".png")
		if err := bench.LinePlot(f, "connect latency, "+ph+" phase: fraction of successful connections at or below", "connect latency, ms (log)", "fraction", lat, true, false); err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	// Server CPU per connection below the ceiling, by component (at the
	// ceiling a tracked connection's cost is dominated by the retries).
	var cats []string
	parts := []bench.Bars{{Name: "memcached"}, {Name: "receive poller (softirq)"}, {Name: "other kernel threads"}, {Name: "total"}}
	for _, s := range rep.Scenarios {
		if s.Phase != "below" {
			continue
		}
		cats = append(cats, s.Scenario)
		for i, v := range []float64{s.ProcMsPer1k, s.RxMsPer1k, s.KthreadsMsPer1k, s.CPUMsPer1k} {
			parts[i].Values = append(parts[i].Values, v)
		}
	}
	if len(cats) == 0 {
		return files, nil
	}
	f := filepath.Join(dir, "bench-conntrack-cpu.png")
	if err := bench.BarPlot(f, fmt.Sprintf("server CPU per 1,000 connections at %.0f conn/s (below the ceiling), median", rep.cfg.rate), "ms", cats, parts); err != nil {
		return nil, err
	}
	return append(files, f), nil
}

// cdf turns a histogram into a cumulative-fraction series at the bins'
// upper bounds.
func cdf(name string, h bench.Histogram) bench.Series {
	s := bench.Series{Name: name}
	var total, acc int64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return s
	}
	for i, c := range h.Counts {
		acc += c
		if c == 0 && acc == 0 {
			continue
		}
		s.X = append(s.X, h.Bounds[i+1])
		s.Y = append(s.Y, float64(acc)/float64(total))
		if acc == total {
			break
		}
	}
	return s
}
