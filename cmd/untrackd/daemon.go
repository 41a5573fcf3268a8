package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/dataplane/ifacemon"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/datastore"
	"github.com/untrackd/untrackd/proto"
)

// runDaemon wires the data flow and runs it until ctx is done:
//
//	etcd ─► datastore.Syncer ─► (adapter) ─► calc.Graph ─► (relay) ─► dataplane.Driver ─► nft.Netlink ─► kernel
//	                                      netlink interfaces ─► ifacemon ─────────┤
//	     nftables generation ID (others' commits) ─► kernelWatch ────────────────┘
//
// Each arrow is a channel owned by the goroutine that writes it. The adapter
// and the relay report the pipeline's progress to ops (ops.go), which serves
// health, status and metrics and notifies systemd. Stopping (SIGTERM,
// SIGINT) leaves the kernel rules in place, so a restart causes no change in
// traffic; "untrackd cleanup" removes them.
func runDaemon(ctx context.Context, args []string) error {
	cfg, err := parseConfig("run", args)
	if err != nil {
		return err
	}
	log, level, err := newLogger(zapLevel(cfg.LogLevel), cfg.LogFormat.String())
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting untrackd", zap.String("version", version), zap.String("node", cfg.NodeName))
	if _, set := os.LookupEnv("GOGC"); !set || cfg.origins.Local(flagGCPercent) {
		debug.SetGCPercent(cfg.GCPercent)
	}

	// A netlink socket of its own for reading rule counters at scrape time,
	// so that a scrape never waits for an apply, nor an apply for a scrape.
	counters, err := nft.NewNetlink()
	if err != nil {
		return fmt.Errorf("open nftables netlink socket: %w", err)
	}
	defer func() { _ = counters.Close() }()
	o, err := newOps(cfg, log, level, version, counters)
	if err != nil {
		return err
	}
	defer o.close()

	endpoints := cfg.Etcd.Endpoints()
	if cfg.EmbeddedEtcdDir != "" {
		emb, err := datastore.StartEmbedded(datastore.EmbeddedConfig{Dir: cfg.EmbeddedEtcdDir, Logger: log})
		if err != nil {
			return err
		}
		defer emb.Close()
		endpoints = emb.Endpoints()
		log.Info("embedded etcd serving", zap.Strings("endpoints", endpoints), zap.String("dir", cfg.EmbeddedEtcdDir))
	}
	etcdCfg := cfg.Etcd.Config()
	etcdCfg.Endpoints = endpoints
	cli, err := datastore.NewClient(etcdCfg, log)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()

	writer, err := nft.NewNetlink()
	if err != nil {
		return fmt.Errorf("open nftables netlink socket: %w", err)
	}
	defer func() { _ = writer.Close() }()
	rcfg := render.DefaultConfig()
	rcfg.MarkAllow, rcfg.MarkPass, rcfg.MarkAccept = uint32(cfg.MarkAllow), uint32(cfg.MarkPass), uint32(cfg.MarkAccept)
	warnForeignDrops(ctx, writer, rcfg, log)

	syncer := datastore.NewSyncer(cli, datastore.SyncerOptions{Logger: log.Named("datastore"), Metrics: o.metrics.datastore})
	graph := calc.NewGraph(cfg.NodeName, log.Named("calc"))
	ifaces := make(chan ifacemon.Snapshot)
	kernelChanged := make(chan struct{}, 1)
	kw := newKernelWatch(writer, kernelChanged, log.Named("dataplane"))
	driverOpts := dataplane.Options{
		Interfaces:    ifaces,
		Writer:        writer,
		Log:           log.Named("dataplane"),
		Render:        rcfg,
		RetryMax:      cfg.ApplyRetryMax,
		OnApply:       func(r dataplane.ApplyResult) { kw.onApply(r); o.onApply(r) },
		KernelChanged: kernelChanged,
	}

	batches := make(chan datastore.Batch)
	calcIn := make(chan calc.Input)
	fromGraph := make(chan []*proto.ToDataplane)
	toDriver := make(chan []*proto.ToDataplane)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return syncer.Run(gctx, batches) })
	g.Go(func() error { return adapt(gctx, batches, calcIn, o) })
	g.Go(func() error { return graph.Run(gctx, calcIn, fromGraph) })
	g.Go(func() error { return relay(gctx, fromGraph, toDriver, o.mon, heartbeat(cfg.LivenessTimeout)) })
	g.Go(func() error {
		// The driver starts once the datastore is in sync (it writes nothing
		// before), with FelixConfiguration's nftablesRefreshInterval then.
		refresh, err := o.waitFirstSync(gctx)
		if err != nil {
			return err
		}
		driverOpts.RefreshInterval = refresh
		return dataplane.NewDriver(driverOpts).Run(gctx, toDriver)
	})
	g.Go(func() error { return ifacemon.Watch(gctx, ifaces, log.Named("interfaces")) })
	g.Go(func() error { return kw.run(gctx) })
	g.Go(func() error { return o.run(gctx) })
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		log.Info("stopping; the kernel rules stay in place")
		return nil
	}
	return err
}

// heartbeat is how often the relay proves the dataplane goroutine alive
// when nothing changes: a third of the liveness limit, at most 30s.
func heartbeat(livenessLimit time.Duration) time.Duration {
	return min(livenessLimit/3, 30*time.Second)
}
