package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/datastore"
)

// ops is the daemon's operational side: the health and metrics servers,
// the log level, systemd notification, and the settings FelixConfiguration
// may change at run time (see felixconfig.go). The pipeline's goroutines
// report to it through its methods, which say which goroutine calls them.
type ops struct {
	cfg      *config
	log      *zap.Logger
	level    zap.AtomicLevel
	version  string
	mon      *monitor
	metrics  *daemonMetrics
	health   *listener
	prom     *listener
	notify   *notifier
	observer *calcObserver

	// felix, dirty and inSync belong to the adapter goroutine (datastoreBatch).
	felix  felixConfigs
	dirty  bool // felix changed since the settings were last resolved
	inSync bool

	mu        sync.Mutex
	rc        runtimeConfig // in effect
	firstSync chan time.Duration
}

// newOps starts the health and metrics servers on their local (or default)
// addresses: a port that cannot be bound at start is an error.
func newOps(cfg *config, log *zap.Logger, level zap.AtomicLevel, version string, counters nft.CounterReader) (*ops, error) {
	mon := newMonitor(time.Now, cfg.LivenessTimeout)
	metrics := newDaemonMetrics(metricsOptions{version: version, monitor: mon, counters: counters, procRoot: "/proc", log: log.Named("metrics")})
	o := &ops{
		cfg: cfg, log: log, level: level, version: version, mon: mon, metrics: metrics,
		notify:    newNotifier(log.Named("systemd")),
		observer:  &calcObserver{m: mon, metrics: metrics},
		felix:     felixConfigs{node: cfg.NodeName},
		firstSync: make(chan time.Duration, 1),
	}
	o.health = newListener("health", healthHandler(mon, o.status), log)
	o.prom = newListener("metrics", metrics.handler(), log)
	rc := resolve(cfg, nil)
	if err := o.health.set(rc.healthAddr()); err != nil {
		return nil, err
	}
	if err := o.prom.set(rc.metricsAddr()); err != nil {
		o.health.close()
		return nil, err
	}
	metrics.setRuntimeCollectors(rc.GoMetrics.Value, rc.ProcessMetrics.Value)
	o.rc = rc
	return o, nil
}

// datastoreBatch records a datastore batch's status and FelixConfiguration
// changes; called by the adapter goroutine before it hands the batch on.
// FelixConfiguration takes effect while the datastore is in sync, so that
// a half-listed state never moves a server. The first time it is in sync,
// waitFirstSync returns.
func (o *ops) datastoreBatch(b datastore.Batch) {
	o.mon.datastoreStatus(b.Status)
	for _, u := range b.Updates {
		o.dirty = o.felix.update(u.Key, u.Value) || o.dirty
	}
	if b.Status != datastore.InSync {
		return
	}
	first := !o.inSync
	o.inSync = true
	if !o.dirty && !first {
		return
	}
	o.dirty = false
	rc := resolve(o.cfg, &o.felix)
	o.applyRuntime(rc, first)
	if first {
		o.firstSync <- rc.RefreshInterval.Value
	}
}

// applyRuntime puts rc into effect and logs what changed.
func (o *ops) applyRuntime(rc runtimeConfig, first bool) {
	o.mu.Lock()
	old := o.rc
	o.rc = rc
	o.mu.Unlock()
	if rc.LogLevel != old.LogLevel {
		// Log at the more verbose of the two levels, so that the message shows.
		if rc.LogLevel.Value > old.LogLevel.Value {
			o.log.Info("log level changed", zap.Stringer("level", rc.LogLevel.Value), zap.String("from", rc.LogLevel.From))
		}
		o.level.SetLevel(rc.LogLevel.Value)
		if rc.LogLevel.Value <= old.LogLevel.Value {
			o.log.Info("log level changed", zap.Stringer("level", rc.LogLevel.Value), zap.String("from", rc.LogLevel.From))
		}
	}
	if err := o.health.set(rc.healthAddr()); err != nil {
		o.log.Error("keeping the health server where it was", zap.Error(err), zap.String("from", rc.HealthPort.From))
	}
	if err := o.prom.set(rc.metricsAddr()); err != nil {
		o.log.Error("keeping the metrics server where it was", zap.Error(err), zap.String("from", rc.MetricsPort.From))
	}
	o.metrics.setRuntimeCollectors(rc.GoMetrics.Value, rc.ProcessMetrics.Value)
	if !first && rc.RefreshInterval.Value != old.RefreshInterval.Value {
		o.log.Warn("the dataplane refresh interval changed; restart untrackd to apply it",
			zap.Duration("in_use", old.RefreshInterval.Value), zap.Duration("configured", rc.RefreshInterval.Value),
			zap.String("from", rc.RefreshInterval.From))
		o.mu.Lock()
		o.rc.RefreshInterval = old.RefreshInterval // report what is in use
		o.mu.Unlock()
	}
}

// waitFirstSync blocks until the datastore has been in sync once and
// returns the dataplane refresh interval to use from then on.
func (o *ops) waitFirstSync(ctx context.Context) (time.Duration, error) {
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case d := <-o.firstSync:
		return d, nil
	}
}

// onApply is the driver's OnApply hook (the dataplane goroutine): health,
// metrics and logs.
func (o *ops) onApply(r dataplane.ApplyResult) {
	first := o.mon.applied(r)
	o.metrics.dataplane.ObserveApply(r)
	log := o.log.Named("dataplane")
	switch {
	case r.Err != nil:
		// The driver logs failures with their retry delay.
	case first:
		log.Info("dataplane programmed", zap.Int("operations", r.Ops), zap.Duration("took", r.Duration), zap.Bool("took_over_existing_table", r.Resynced))
	case r.Ops > 0 && r.Drift:
		log.Warn("dataplane differed from the desired state and was repaired", zap.Int("operations", r.Ops))
	case r.Ops > 0:
		log.Debug("dataplane updated", zap.Int("operations", r.Ops), zap.Duration("took", r.Duration))
	}
}

// run notifies systemd: READY=1 when the daemon is first ready, watchdog
// pings while it is live, and STOPPING=1 when ctx is done, when it returns.
func (o *ops) run(ctx context.Context) error {
	go func() {
		select {
		case <-ctx.Done():
		case <-o.mon.FirstReady():
			s := o.mon.status()
			o.log.Info("ready", zap.Int("endpoints", len(s.Endpoints)), zap.Int("rules", s.Dataplane.Rules))
			o.notify.ready(fmt.Sprintf("in sync; %d local host endpoints, %d rules", len(s.Endpoints), s.Dataplane.Rules))
		}
	}()
	err := o.notify.watchdog(ctx, o.mon.live)
	<-ctx.Done()
	o.notify.stopping()
	return err
}

// close stops the servers.
func (o *ops) close() {
	o.health.close()
	o.prom.close()
}

// status is the /status document.
func (o *ops) status() opstatus.Doc {
	d := o.mon.status()
	d.Node, d.Version = o.cfg.NodeName, o.version
	o.mu.Lock()
	rc := o.rc
	o.mu.Unlock()
	d.Config = configDoc(rc)
	return d
}

// configDoc shows the settings in effect, keyed by their config-file names.
func configDoc(rc runtimeConfig) map[string]opstatus.Setting {
	str := func(v any, from string) opstatus.Setting { return opstatus.Setting{Value: fmt.Sprint(v), From: from} }
	return map[string]opstatus.Setting{
		"logLevel":                        str(rc.LogLevel.Value, rc.LogLevel.From),
		"healthEnabled":                   str(rc.HealthEnabled.Value, rc.HealthEnabled.From),
		"healthHost":                      str(rc.HealthHost.Value, rc.HealthHost.From),
		"healthPort":                      str(rc.HealthPort.Value, rc.HealthPort.From),
		"prometheusMetricsEnabled":        str(rc.MetricsEnabled.Value, rc.MetricsEnabled.From),
		"prometheusMetricsHost":           str(rc.MetricsHost.Value, rc.MetricsHost.From),
		"prometheusMetricsPort":           str(rc.MetricsPort.Value, rc.MetricsPort.From),
		"prometheusGoMetricsEnabled":      str(rc.GoMetrics.Value, rc.GoMetrics.From),
		"prometheusProcessMetricsEnabled": str(rc.ProcessMetrics.Value, rc.ProcessMetrics.From),
		"dataplaneRefreshInterval":        str(rc.RefreshInterval.Value, rc.RefreshInterval.From),
	}
}
