package dataplane

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

// Metrics are the Driver's Prometheus metrics, fed from its OnApply hook
// with ObserveApply. A nil *Metrics is valid and records nothing. Methods
// are safe for concurrent use.
type Metrics struct {
	applyDuration prometheus.Histogram
	failures      prometheus.Counter
	operations    prometheus.Counter
	repairs       prometheus.Counter
	readbacks     prometheus.Counter
	lastSuccess   prometheus.Gauge
	chains        prometheus.Gauge
	rules         prometheus.Gauge
	sets          prometheus.Gauge
	setElements   prometheus.Gauge
	policies      prometheus.Gauge
	endpoints     prometheus.Gauge
	applied       atomic.Bool // a first apply has succeeded
}

// NewMetrics creates the dataplane metrics and registers them with reg (if
// not nil). It panics if they are already registered there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "untrackd", "dataplane"
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: name, Help: help})
	}
	m := &Metrics{
		applyDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "apply_duration_seconds",
			Help: "Time taken by dataplane applies that wrote to the kernel or failed (read-back, render, plan and the netlink batch).",
			// 1ms to about 33s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		failures:    counter("apply_failures_total", "Dataplane applies that failed; the kernel was left unchanged and the apply is retried with backoff."),
		operations:  counter("operations_total", "Kernel operations (adds and deletes of chains, rules, sets and set elements) written by successful applies."),
		repairs:     counter("repairs_total", "Applies whose read-back of the kernel (periodic refresh, another process's commit, after a failure) found the table changed by someone else, and that restored it."),
		readbacks:   counter("readbacks_total", "Reads of the whole table back from the kernel before an apply: at start, periodic refresh, after another process committed an nftables change, after a failure."),
		lastSuccess: gauge("last_apply_success_timestamp_seconds", "Unix time of the last successful dataplane apply."),
		chains:      gauge("chains", "Chains in untrackd's nftables table after the last successful apply."),
		rules:       gauge("rules", "Rules in untrackd's nftables table after the last successful apply."),
		sets:        gauge("sets", "Named sets in untrackd's nftables table after the last successful apply."),
		setElements: gauge("set_elements", "Elements of the sets in untrackd's nftables table after the last successful apply."),
		policies:    gauge("policies", "Active policies (selecting at least one local host endpoint) after the last successful apply."),
		endpoints:   gauge("endpoints", "Local host endpoints after the last successful apply."),
	}
	if reg != nil {
		reg.MustRegister(m.applyDuration, m.failures, m.operations, m.repairs, m.readbacks, m.lastSuccess,
			m.chains, m.rules, m.sets, m.setElements, m.policies, m.endpoints)
	}
	return m
}

// ObserveApply records one apply attempt. Attempts with nothing to write
// (no operations, no error) only refresh the table gauges.
func (m *Metrics) ObserveApply(r ApplyResult) {
	if m == nil {
		return
	}
	if r.Resynced {
		m.readbacks.Inc()
	}
	if r.Err != nil {
		m.failures.Inc()
		m.applyDuration.Observe(r.Duration.Seconds())
		return
	}
	if r.Ops > 0 {
		m.applyDuration.Observe(r.Duration.Seconds())
		m.operations.Add(float64(r.Ops))
		if r.Drift {
			m.repairs.Inc()
		}
	}
	m.applied.Store(true)
	m.lastSuccess.SetToCurrentTime()
	if s := r.Status; s != nil {
		m.chains.Set(float64(s.Chains))
		m.rules.Set(float64(s.Rules))
		m.sets.Set(float64(s.Sets))
		m.setElements.Set(float64(s.SetElements))
		m.policies.Set(float64(s.Policies))
		m.endpoints.Set(float64(len(s.Endpoints)))
	}
}

// OtherPolicies is the policy label of untracked-policy counters beyond
// PolicyCounterOptions.MaxPolicies. It cannot clash with a policy: a
// resource name has no '_'.
const OtherPolicies = "_other"

// PolicyCounterOptions configure NewPolicyCounterCollector.
type PolicyCounterOptions struct {
	// MaxPolicies bounds the policy label's values (default 500): policies
	// beyond the first MaxPolicies in name order are summed under
	// OtherPolicies.
	MaxPolicies int
	// Timeout bounds reading the counters at each scrape (default 5s).
	Timeout time.Duration
	// Log receives read errors at debug level (they are also counted).
	Log *zap.Logger
}

// policyCounters collects the packet and byte counters of untracked policy
// rules from the kernel at scrape time.
type policyCounters struct {
	reader     nft.CounterReader
	opts       PolicyCounterOptions
	packets    *prometheus.Desc
	bytes      *prometheus.Desc
	readErrors prometheus.Counter
}

// NewPolicyCounterCollector returns a collector of
// untrackd_untracked_policy_{packets,bytes}_total{policy,direction,action}:
// the counters of the rules in untrackd's untracked-policy chains, read
// through r at each scrape and summed per policy, direction (ingress,
// egress) and action (allow, deny, log, pass). The kernel restarts a rule's
// counter when the rule is rewritten (its policy changed), which Prometheus
// treats as a counter reset. r must be safe to call from the scraping
// goroutine; give the collector its own Netlink.
func NewPolicyCounterCollector(r nft.CounterReader, opts PolicyCounterOptions) prometheus.Collector {
	if opts.MaxPolicies <= 0 {
		opts.MaxPolicies = 500
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	labels := []string{"policy", "direction", "action"}
	return &policyCounters{
		reader: r,
		opts:   opts,
		packets: prometheus.NewDesc("untrackd_untracked_policy_packets_total",
			"Packets that matched untracked (doNotTrack) policy rules, read from the kernel's rule counters, by policy, direction and action.", labels, nil),
		bytes: prometheus.NewDesc("untrackd_untracked_policy_bytes_total",
			"Bytes of the packets that matched untracked (doNotTrack) policy rules, by policy, direction and action.", labels, nil),
		readErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "untrackd", Subsystem: "untracked_policy", Name: "read_errors_total",
			Help: "Scrapes at which the packet and byte counts of untracked policy rules could not be read from the kernel.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *policyCounters) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.bytes
	c.readErrors.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *policyCounters) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	rcs, err := c.reader.RuleCounters(ctx)
	if err != nil {
		c.readErrors.Inc()
		c.opts.Log.Debug("could not read rule counters", zap.Error(err))
	}
	c.readErrors.Collect(ch)
	for k, v := range sumPolicyCounters(rcs, c.opts.MaxPolicies) {
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(v.packets), k.policy, k.direction, k.action)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(v.bytes), k.policy, k.direction, k.action)
	}
}

type counterKey struct{ policy, direction, action string }

type counterSum struct{ packets, bytes uint64 }

// sumPolicyCounters sums the counters of untracked policy rules per label
// set, keeping at most maxPolicies policy names (the first in name order).
// Rules that are not untracked policy rules are ignored.
func sumPolicyCounters(rcs []nft.RuleCounter, maxPolicies int) map[counterKey]counterSum {
	sums := map[counterKey]counterSum{}
	for _, rc := range rcs {
		k, ok := untrackedRuleKey(rc)
		if !ok {
			continue
		}
		s := sums[k]
		s.packets += rc.Packets
		s.bytes += rc.Bytes
		sums[k] = s
	}
	names := map[string]bool{}
	for k := range sums {
		names[k.policy] = true
	}
	if len(names) <= maxPolicies {
		return sums
	}
	keep := map[string]bool{}
	for _, n := range slices.Sorted(maps.Keys(names))[:maxPolicies] {
		keep[n] = true
	}
	out := map[counterKey]counterSum{}
	for k, v := range sums {
		if !keep[k.policy] {
			k.policy = OtherPolicies
		}
		s := out[k]
		s.packets += v.packets
		s.bytes += v.bytes
		out[k] = s
	}
	return out
}

// untrackedRuleKey identifies a rule of an untracked policy chain by its
// comment, "ut:<hash> <policy> <ingress|egress> <rule index>" (calc sets the
// part after the hash), and its verdict. A rule whose comment was cut short
// by the kernel's limit, or that is not in its policy's untracked chain, is
// not one.
func untrackedRuleKey(rc nft.RuleCounter) (counterKey, bool) {
	f := strings.Fields(rc.Comment)
	if len(f) != 4 || !strings.HasPrefix(f[0], nft.CommentPrefix) {
		return counterKey{}, false
	}
	policy, dir := f[1], f[2]
	if _, err := strconv.Atoi(f[3]); err != nil || (dir != "ingress" && dir != "egress") {
		return counterKey{}, false
	}
	if rc.Chain != render.PolicyUntrackedChain(policy, dir == "ingress") {
		return counterKey{}, false
	}
	var action string
	switch {
	case rc.Verdict == nil && rc.Log:
		action = "log"
	case rc.Verdict == nil:
		return counterKey{}, false
	case rc.Verdict.Kind == nft.Accept:
		action = "allow"
	case rc.Verdict.Kind == nft.Drop:
		action = "deny"
	case rc.Verdict.Kind == nft.Return:
		action = "pass"
	default:
		return counterKey{}, false
	}
	return counterKey{policy: policy, direction: dir, action: action}, true
}
