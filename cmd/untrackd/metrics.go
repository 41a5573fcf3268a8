package main

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/datastore"
)

// daemonMetrics is the daemon's Prometheus registry and the metrics cmd
// feeds itself. Everything is registered here, in a registry of its own:
// nothing is registered globally.
type daemonMetrics struct {
	reg       *prometheus.Registry
	datastore *datastore.Metrics
	dataplane *dataplane.Metrics

	calcDuration prometheus.Histogram
	calcUpdates  prometheus.Counter

	mu           sync.Mutex
	goColl       prometheus.Collector
	procColl     prometheus.Collector
	goOn, procOn bool
}

// metricsOptions are the sources of the scrape-time metrics.
type metricsOptions struct {
	version  string
	monitor  *monitor
	counters nft.CounterReader // untracked policy rule counters; nil: none
	procRoot string            // where /proc/sys/net/netfilter is read ("/proc")
	log      *zap.Logger
}

func newDaemonMetrics(o metricsOptions) *daemonMetrics {
	reg := prometheus.NewRegistry()
	m := &daemonMetrics{
		reg:       reg,
		datastore: datastore.NewMetrics(reg),
		dataplane: dataplane.NewMetrics(reg),
		calcDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "untrackd", Subsystem: "calc", Name: "update_duration_seconds",
			Help:    "Time the calculation graph took to apply one batch of datastore updates.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10), // 100µs to about 26s
		}),
		calcUpdates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "untrackd", Subsystem: "calc", Name: "updates_total",
			Help: "Datastore updates (key changes) applied to the calculation graph.",
		}),
		goColl:   collectors.NewGoCollector(),
		procColl: collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	reg.MustRegister(m.calcDuration, m.calcUpdates, newConntrackCollector(o.procRoot))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "untrackd", Name: "build_info", Help: "Always 1; the labels describe the running binary.",
		ConstLabels: prometheus.Labels{"version": o.version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))
	if mon := o.monitor; mon != nil {
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "untrackd", Subsystem: "health", Name: "ready",
				Help: "1 when untrackd is ready (see /readiness), else 0."}, func() float64 { return b2f(mon.ready()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "untrackd", Subsystem: "health", Name: "live",
				Help: "1 when untrackd is live (see /liveness), else 0."}, func() float64 { return b2f(mon.live()) }),
		)
	}
	if o.counters != nil {
		reg.MustRegister(dataplane.NewPolicyCounterCollector(o.counters, dataplane.PolicyCounterOptions{Log: o.log}))
	}
	return m
}

func b2f(ok bool, _ []string) float64 {
	if ok {
		return 1
	}
	return 0
}

// handler serves the registry in Prometheus' formats. A collector that
// fails does not fail the scrape.
func (m *daemonMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// setRuntimeCollectors registers or unregisters the Go runtime and process
// collectors (prometheusGoMetricsEnabled, prometheusProcessMetricsEnabled).
func (m *daemonMetrics) setRuntimeCollectors(goOn, procOn bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	toggle := func(c prometheus.Collector, on bool, cur *bool) {
		if on == *cur {
			return
		}
		if on {
			m.reg.MustRegister(c)
		} else {
			m.reg.Unregister(c)
		}
		*cur = on
	}
	toggle(m.goColl, goOn, &m.goOn)
	toggle(m.procColl, procOn, &m.procOn)
}

// observeCalc records one batch the graph applied.
func (m *daemonMetrics) observeCalc(updates int, took time.Duration) {
	m.calcUpdates.Add(float64(updates))
	m.calcDuration.Observe(took.Seconds())
}
