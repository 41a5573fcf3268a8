package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

// figure is one row of the results: a scenario (cold_start, policy_change,
// label_change, memory) measured on one daemon.
type figure struct {
	Scenario string  `json:"scenario"`
	Daemon   string  `json:"daemon"`
	Seconds  float64 `json:"seconds,omitempty"`
	Changes  int     `json:"changes,omitempty"`
	Missed   int     `json:"missed,omitempty"`
	P50ms    float64 `json:"p50_ms,omitempty"`
	P90ms    float64 `json:"p90_ms,omitempty"`
	P99ms    float64 `json:"p99_ms,omitempty"`
	MaxMs    float64 `json:"max_ms,omitempty"`
	// Bytes to the kernel: per change (p50, p99, max), or the whole
	// cold-start batch.
	BytesP50 int `json:"bytes_p50,omitempty"`
	BytesP99 int `json:"bytes_p99,omitempty"`
	BytesMax int `json:"bytes_max,omitempty"`
	Bytes    int `json:"bytes,omitempty"`
	OpsP50   int `json:"operations_p50,omitempty"`
	// Memory.
	PeakRSSMB float64 `json:"peak_rss_mb,omitempty"`
}

type target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

type report struct {
	Machine   bench.Machine   `json:"machine"`
	Command   string          `json:"command"`
	Started   string          `json:"started"`
	Seconds   float64         `json:"seconds"`
	Datastore map[string]any  `json:"datastore"`
	Scenarios []figure        `json:"scenarios"`
	Targets   []target        `json:"targets"`
	Daemons   []*daemonResult `json:"daemons"`
	daemons   []*daemonResult
	cfg       *config
}

func (rep *report) build() {
	rep.Daemons = rep.daemons
	for _, d := range rep.daemons {
		rep.Scenarios = append(rep.Scenarios, figure{Scenario: "cold_start", Daemon: d.Daemon, Seconds: d.ColdStartS, Bytes: d.ColdBytes})
		for _, s := range []*series{d.Policy, d.Label} {
			f := figure{Scenario: s.Kind + "_change", Daemon: d.Daemon, Changes: s.Changes, Missed: s.Missed,
				P50ms: s.Stats.P50ms, P90ms: s.Stats.P90ms, P99ms: s.Stats.P99ms, MaxMs: s.Stats.MaxMs}
			if s.Bytes != nil {
				f.BytesP50, f.BytesP99, f.BytesMax, f.OpsP50 = s.Bytes.P50, s.Bytes.P99, s.Bytes.Max, s.Bytes.OpsP50
			}
			rep.Scenarios = append(rep.Scenarios, f)
		}
		rep.Scenarios = append(rep.Scenarios, figure{Scenario: "memory", Daemon: d.Daemon, PeakRSSMB: float64(d.PeakRSS) / (1 << 20)})
	}
	add := func(name, want string, met bool, got string) {
		rep.Targets = append(rep.Targets, target{Name: name, Want: want, Got: got, Met: met})
	}
	for _, d := range rep.daemons {
		add(d.Daemon+": cold start to fully programmed", "< 3 s", d.ColdStartS < 3, fmt.Sprintf("%.2f s", d.ColdStartS))
		for _, s := range []*series{d.Policy, d.Label} {
			add(fmt.Sprintf("%s: p99 etcd put → kernel, %s changes", d.Daemon, s.Kind), "< 50 ms, none missed",
				s.Stats.P99ms < 50 && s.Missed == 0, fmt.Sprintf("%.2f ms over %d changes, %d missed", s.Stats.P99ms, s.Changes, s.Missed))
			if s.Bytes != nil && d.ColdBytes > 0 {
				add(fmt.Sprintf("%s: netlink bytes per %s change scale with the change", d.Daemon, s.Kind),
					"largest ≤ 1% of the full ruleset's batch",
					float64(s.Bytes.Max) <= 0.01*float64(d.ColdBytes),
					fmt.Sprintf("p50 %d B, max %d B (%d operations typical) vs %d B for the whole ruleset (%.3f%%)",
						s.Bytes.P50, s.Bytes.Max, s.Bytes.OpsP50, d.ColdBytes, 100*float64(s.Bytes.Max)/float64(d.ColdBytes)))
			}
		}
		add(d.Daemon+": peak RSS", "< 150 MB", d.PeakRSS < 150<<20, fmt.Sprintf("%.1f MB", float64(d.PeakRSS)/(1<<20)))
	}
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
	fmt.Fprintf(w, "\nbench-scale: %s, %d cores, kernel %s\n", rep.Machine.CPU, rep.Machine.Cores, rep.Machine.Kernel)
	fmt.Fprintf(w, "datastore: %v host endpoints (%v local), %v policies (%v untracked and %v normal active here), %v network sets with %v CIDRs\n\n",
		rep.Datastore["host_endpoints"], rep.Datastore["local_host_endpoints"], rep.Datastore["policies"],
		rep.Datastore["active_untracked_policies"], rep.Datastore["active_normal_policies"], rep.Datastore["network_sets"], rep.Datastore["cidrs"])
	fmt.Fprintf(w, "%-8s %-15s %9s %8s %8s %8s %8s %8s %10s %10s %10s\n", "daemon", "scenario", "value", "changes", "p50 ms", "p90 ms", "p99 ms", "max ms", "bytes p50", "bytes max", "missed")
	for _, f := range rep.Scenarios {
		switch f.Scenario {
		case "cold_start":
			b := ""
			if f.Bytes > 0 {
				b = fmt.Sprint(f.Bytes)
			}
			fmt.Fprintf(w, "%-8s %-15s %8.2fs %8s %8s %8s %8s %8s %10s %10s\n", f.Daemon, f.Scenario, f.Seconds, "", "", "", "", "", b, "")
		case "memory":
			fmt.Fprintf(w, "%-8s %-15s %7.1fMB\n", f.Daemon, "peak RSS", f.PeakRSSMB)
		default:
			bp, bm := "n/a", "n/a"
			if f.BytesMax > 0 {
				bp, bm = fmt.Sprint(f.BytesP50), fmt.Sprint(f.BytesMax)
			}
			fmt.Fprintf(w, "%-8s %-15s %9s %8d %8.2f %8.2f %8.2f %8.2f %10s %10s %10d\n", f.Daemon, f.Scenario, "", f.Changes,
				f.P50ms, f.P90ms, f.P99ms, f.MaxMs, bp, bm, f.Missed)
		}
	}
	fmt.Fprintln(w)
	for _, d := range rep.daemons {
		fmt.Fprintf(w, "%s: table after cold start: %d chains, %d rules, %d sets, %d elements; reading it back took %.0f ms (%.0f ms CPU in the reader); nftables monitor overruns during cold start: %d\n",
			d.Daemon, d.Table.Chains, d.Table.Rules, d.Table.Sets, d.Table.Elements, d.Table.ReadBackMs, d.Table.ReadBackCPUMs, d.MonitorLost)
	}
	fmt.Fprintln(w)
	for _, t := range rep.Targets {
		mark := "MET "
		if !t.Met {
			mark = "MISS"
		}
		fmt.Fprintf(w, "[%s] %s: want %s, got %s\n", mark, t.Name, t.Want, t.Got)
	}
}

func (rep *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// plots writes the latency distributions of both kinds of change.
func (rep *report) plots(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var ss []bench.Series
	for _, d := range rep.daemons {
		for _, s := range []*series{d.Policy, d.Label} {
			ss = append(ss, cdf(fmt.Sprintf("%s, %s changes", d.Daemon, s.Kind), s.Hist))
		}
	}
	f := filepath.Join(dir, "bench-scale-latency.png")
	if err := bench.LinePlot(f, "etcd put → change committed in the kernel: fraction of changes at or below", "latency, ms (log)", "fraction", ss, true, false); err != nil {
		return nil, err
	}
	return []string{f}, nil
}

func cdf(name string, h bench.Histogram) bench.Series {
	s := bench.Series{Name: name}
	var total, acc int64
	for _, c := range h.Counts {
		total += c
	}
	for i, c := range h.Counts {
		acc += c
		if acc == 0 {
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
