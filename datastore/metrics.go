package datastore

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/untrackd/untrackd/model"
)

// Reasons a stored value is rejected, the "reason" label of
// untrackd_datastore_rejected_resources_total.
const (
	// reasonKey: the key is not a valid key for the kind (namespaced, bad
	// name), or the value does not belong under it (other kind, other name).
	reasonKey = "key"
	// reasonDecode: the value is not a strictly decodable resource.
	reasonDecode = "decode"
	// reasonValidate: the value decodes but fails validation.
	reasonValidate = "validate"
	// reasonTooLarge: the value exceeds model.MaxValueBytes.
	reasonTooLarge = "too_large"
)

var rejectReasons = []string{reasonKey, reasonDecode, reasonValidate, reasonTooLarge}

// Metrics are the Syncer's Prometheus metrics. A nil *Metrics is valid and
// records nothing. All methods are safe for concurrent use.
type Metrics struct {
	inSync      prometheus.Gauge
	resyncs     prometheus.Counter
	watchEvents prometheus.Counter
	rejected    *prometheus.CounterVec
	resources   *prometheus.GaugeVec
}

// NewMetrics creates the datastore metrics and registers them with reg (if
// reg is not nil). It panics if they are already registered there, so call
// it once per registry.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "untrackd", "datastore"
	m := &Metrics{
		inSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "in_sync",
			Help: "1 when the datastore syncer has emitted every change up to the latest etcd revision it knows, else 0.",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "resyncs_total",
			Help: "Times the datastore syncer lost sync (watch compacted, broken or stalled) and had to re-list.",
		}),
		watchEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "watch_events_total",
			Help: "etcd watch events received (puts and deletes).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "rejected_resources_total",
			Help: "Stored values ignored as invalid, counted once per key and mod revision. reason is key, decode, validate or too_large.",
		}, []string{"kind", "reason"}),
		resources: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "resources",
			Help: "Valid resources currently known, by kind.",
		}, []string{"kind"}),
	}
	// Create every series up front so that dashboards see zeros, not gaps.
	for _, k := range model.Kinds {
		m.resources.WithLabelValues(string(k))
		for _, r := range rejectReasons {
			m.rejected.WithLabelValues(string(k), r)
		}
	}
	if reg != nil {
		reg.MustRegister(m.inSync, m.resyncs, m.watchEvents, m.rejected, m.resources)
	}
	return m
}

func (m *Metrics) setInSync(in bool) {
	if m == nil {
		return
	}
	v := 0.0
	if in {
		v = 1
	}
	m.inSync.Set(v)
}

func (m *Metrics) resync() {
	if m != nil {
		m.resyncs.Inc()
	}
}

func (m *Metrics) watchEvent(n int) {
	if m != nil {
		m.watchEvents.Add(float64(n))
	}
}

func (m *Metrics) reject(k model.Kind, reason string) {
	if m != nil {
		m.rejected.WithLabelValues(string(k), reason).Inc()
	}
}

func (m *Metrics) addResources(k model.Kind, delta int) {
	if m != nil {
		m.resources.WithLabelValues(string(k)).Add(float64(delta))
	}
}
