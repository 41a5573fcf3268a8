package dataplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

func TestApplyMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	st := &Status{Endpoints: []EndpointStatus{{Name: "h"}}, Chains: 7, Rules: 20, Sets: 2, SetElements: 5, Policies: 1}
	steps := []ApplyResult{
		{Ops: 30, Resynced: true, Duration: 3 * time.Millisecond, Status: st}, // first apply: takes over, not a repair
		{Ops: 0, Status: st}, // nothing to do
		{Err: errors.New("EBUSY"), Duration: time.Millisecond},
		{Ops: 2, Resynced: true, Drift: true, Duration: time.Millisecond, Status: st}, // read back, found changed, restored
		{Ops: 3, Resynced: true, Duration: time.Millisecond, Status: st},              // read back after the failure: only the pending change
		{Resynced: true, Status: st},                                                  // read back, nothing to do
	}
	for _, s := range steps {
		m.ObserveApply(s)
	}
	want := map[string]float64{
		"untrackd_dataplane_apply_failures_total": 1,
		"untrackd_dataplane_operations_total":     35,
		"untrackd_dataplane_repairs_total":        1,
		"untrackd_dataplane_readbacks_total":      4,
		"untrackd_dataplane_chains":               7,
		"untrackd_dataplane_rules":                20,
		"untrackd_dataplane_set_elements":         5,
		"untrackd_dataplane_endpoints":            1,
	}
	for name, v := range want {
		if got := gathered(t, reg, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if h := family(t, reg, "untrackd_dataplane_apply_duration_seconds"); h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() != 4 {
		t.Errorf("apply duration histogram: %v, want 4 samples (three writes, one failure)", h)
	}
	if got := gathered(t, reg, "untrackd_dataplane_last_apply_success_timestamp_seconds"); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp %v", got)
	}
	lint(t, reg)
	var nilMetrics *Metrics
	nilMetrics.ObserveApply(steps[0]) // must not panic
}

// lint fails the test if promlint finds problems in g's metrics.
func lint(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("promlint: %v %v", problems, err)
	}
}

// family returns the gathered metric family name (nil if absent).
func family(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	return nil
}

// gathered returns the value of a single-series gauge or counter.
func gathered(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mf := family(t, g, name)
	if mf == nil {
		t.Fatalf("metric %s not found", name)
	}
	m := mf.GetMetric()[0]
	if m.GetCounter() != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// series returns the values of a metric family by label set, written as
// "name=value,..." in label name order.
func series(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range family(t, g, name).GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, l.GetName()+"="+l.GetValue())
		}
		v := m.GetGauge().GetValue()
		if m.GetCounter() != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

// fakeCounters is a CounterReader returning fixed counters or an error.
type fakeCounters struct {
	rcs []nft.RuleCounter
	err error
}

func (f *fakeCounters) RuleCounters(context.Context) ([]nft.RuleCounter, error) { return f.rcs, f.err }

// polRule is the counter of rule i of policy p's untracked chain.
func polRule(p, dir string, i int, v *nft.Verdict, log bool, packets uint64) nft.RuleCounter {
	return nft.RuleCounter{
		Chain:   render.PolicyUntrackedChain(p, dir == "ingress"),
		Comment: fmt.Sprintf("ut:ABCDEFGHIJKLMNOP %s %s %d", p, dir, i),
		Verdict: v, Log: log, Packets: packets, Bytes: packets * 100,
	}
}

func TestPolicyCounterCollector(t *testing.T) {
	accept, drop, ret := &nft.Verdict{Kind: nft.Accept}, &nft.Verdict{Kind: nft.Drop}, &nft.Verdict{Kind: nft.Return}
	reader := &fakeCounters{rcs: []nft.RuleCounter{
		polRule("memcached-server", "ingress", 0, accept, false, 10),
		polRule("memcached-server", "ingress", 0, accept, false, 5), // the same rule's other IP family
		polRule("memcached-server", "egress", 0, accept, false, 7),
		polRule("deny-port", "ingress", 0, drop, false, 3),
		polRule("deny-port", "ingress", 1, nil, true, 2),
		polRule("deny-port", "egress", 2, ret, false, 1),
		// Not untracked policy rules: ignored.
		{Chain: "raw-prerouting", Comment: "ut:ABCDEFGHIJKLMNOP failsafe", Verdict: accept, Packets: 99},
		{Chain: render.PolicyChain("memcached-server", true), Comment: "ut:ABCDEFGHIJKLMNOP memcached-server ingress 0", Verdict: ret, Packets: 99},
		{Chain: "pol-untracked-in-cut", Comment: "ut:ABCDEFGHIJKLMNOP cut ingr", Verdict: accept, Packets: 99},
	}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewPolicyCounterCollector(reader, PolicyCounterOptions{}))
	want := map[string]float64{
		"action=allow,direction=egress,policy=memcached-server":  7,
		"action=allow,direction=ingress,policy=memcached-server": 15,
		"action=deny,direction=ingress,policy=deny-port":         3,
		"action=log,direction=ingress,policy=deny-port":          2,
		"action=pass,direction=egress,policy=deny-port":          1,
	}
	if got := series(t, reg, "untrackd_untracked_policy_packets_total"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("packets:\n got %v\nwant %v", got, want)
	}
	if got := series(t, reg, "untrackd_untracked_policy_bytes_total")["action=allow,direction=ingress,policy=memcached-server"]; got != 1500 {
		t.Errorf("bytes %v, want 1500", got)
	}
	if got := gathered(t, reg, "untrackd_untracked_policy_read_errors_total"); got != 0 {
		t.Errorf("read errors %v", got)
	}
	lint(t, reg)

	// Each scrape reads the kernel once; a failed read yields no series and
	// counts an error.
	reader.err, reader.rcs = errors.New("netlink: timeout"), nil
	if got := gathered(t, reg, "untrackd_untracked_policy_read_errors_total"); got != 1 {
		t.Errorf("read errors %v, want 1", got)
	}
	if n := len(series(t, reg, "untrackd_untracked_policy_packets_total")); n != 0 {
		t.Errorf("%d series after a read error, want none", n)
	}
}

// TestPolicyCounterCardinality checks that policies beyond the limit are
// summed under one label value.
func TestPolicyCounterCardinality(t *testing.T) {
	var rcs []nft.RuleCounter
	for i := range 5 {
		rcs = append(rcs, polRule(fmt.Sprintf("p%d", i), "ingress", 0, &nft.Verdict{Kind: nft.Accept}, false, 1))
	}
	sums := sumPolicyCounters(rcs, 3)
	want := map[counterKey]counterSum{
		{"p0", "ingress", "allow"}:          {1, 100},
		{"p1", "ingress", "allow"}:          {1, 100},
		{"p2", "ingress", "allow"}:          {1, 100},
		{OtherPolicies, "ingress", "allow"}: {2, 200},
	}
	if fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Errorf("got %v\nwant %v", sums, want)
	}
}
