package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/model"
)

type noCounters struct{}

func (noCounters) RuleCounters(context.Context) ([]nft.RuleCounter, error) { return nil, nil }

// TestMetricsRegistry gathers every metric the daemon registers, checks
// the names against Prometheus' rules (promlint), the untrackd_ prefix, and
// the Go and process collectors switching on and off.
func TestMetricsRegistry(t *testing.T) {
	proc := t.TempDir()
	nf := filepath.Join(proc, "sys", "net", "netfilter")
	if err := os.MkdirAll(nf, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"nf_conntrack_count": "1234\n", "nf_conntrack_max": "262144\n"} {
		if err := os.WriteFile(filepath.Join(nf, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	clk := newFakeClock()
	mon := newMonitor(clk.Now, time.Minute)
	m := newDaemonMetrics(metricsOptions{version: "v1", monitor: mon, counters: noCounters{}, procRoot: proc})
	m.setRuntimeCollectors(true, true)
	m.observeCalc(3, 2*time.Millisecond)

	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
	names := map[string]float64{}
	for _, mf := range mfs {
		n := mf.GetName()
		if !strings.HasPrefix(n, "untrackd_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			t.Errorf("metric %s lacks the untrackd_ prefix", n)
		}
		if len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			names[n] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for n, want := range map[string]float64{
		"untrackd_conntrack_entries":       1234,
		"untrackd_conntrack_entries_limit": 262144,
		"untrackd_calc_updates_total":      3,
		"untrackd_datastore_in_sync":       0,
		"untrackd_health_ready":            0,
		"untrackd_health_live":             1,
		"untrackd_build_info":              1,
	} {
		if got, ok := names[n]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", n, got, ok, want)
		}
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total", "untrackd_dataplane_apply_failures_total", "untrackd_untracked_policy_read_errors_total"} {
		if _, ok := names[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
	if n := len(familyOf(mfs, "untrackd_datastore_rejected_resources_total").GetMetric()); n != len(model.Kinds)*4 {
		t.Errorf("rejected resources: %d series, want every kind and reason", n)
	}

	m.setRuntimeCollectors(false, false)
	mfs, _ = m.reg.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "go_") || strings.HasPrefix(mf.GetName(), "process_") {
			t.Fatalf("%s still exported after turning the collectors off", mf.GetName())
		}
	}
	m.setRuntimeCollectors(true, false) // and on again
	if familyOfGather(t, m, "go_goroutines") == nil {
		t.Error("Go collector not back")
	}
}

// TestConntrackWithoutModule checks that a host without conntrack yields
// no series rather than an error.
func TestConntrackWithoutModule(t *testing.T) {
	m := newDaemonMetrics(metricsOptions{version: "v1", procRoot: t.TempDir()})
	if familyOfGather(t, m, "untrackd_conntrack_entries") != nil {
		t.Error("conntrack series without the files")
	}
}

// TestCalcObserver runs a real graph with the daemon's observer and checks
// that it times each batch and releases the monitor's queue.
func TestCalcObserver(t *testing.T) {
	clk := newFakeClock()
	mon := newMonitor(clk.Now, time.Minute)
	m := newDaemonMetrics(metricsOptions{version: "v1", monitor: mon, procRoot: t.TempDir()})
	obs := &calcObserver{m: mon, metrics: m}
	g := calc.NewGraph("n1", nil)
	mon.calcHandover()
	g.Apply(calc.Input{Observer: obs, InSync: true, Updates: []calc.KV{{Key: model.Key{Kind: model.KindGlobalNetworkSet, Name: "s"}}}})
	if len(mon.calcQueue) != 0 {
		t.Errorf("queue %v after the graph applied the batch", mon.calcQueue)
	}
	mf := familyOfGather(t, m, "untrackd_calc_update_duration_seconds")
	if mf == nil || mf.GetMetric()[0].GetHistogram().GetSampleCount() != 1 {
		t.Errorf("calc duration %v", mf)
	}
}

func familyOf(mfs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

func familyOfGather(t *testing.T, m *daemonMetrics, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return familyOf(mfs, name)
}
