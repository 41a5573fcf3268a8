package main

import (
	"context"
	"errors"
	"fmt"

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
//	etcd ─► datastore.Syncer ─► (adapter) ─► calc.Graph ─► dataplane.Driver ─► nft.Netlink ─► kernel
//	                                      netlink interfaces ─► ifacemon ─┘
//
// Each arrow is a channel owned by the goroutine that writes it. Stopping
// (SIGTERM, SIGINT) leaves the kernel rules in place, so a restart causes
// no change in traffic; "untrackd cleanup" removes them.
func runDaemon(ctx context.Context, args []string) error {
	cfg, err := parseConfig("run", args)
	if err != nil {
		return err
	}
	log, _, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	log.Info("starting untrackd", zap.String("version", version), zap.String("node", cfg.NodeName))

	endpoints := cfg.EtcdEndpoints
	if cfg.EmbeddedEtcdDir != "" {
		emb, err := datastore.StartEmbedded(datastore.EmbeddedConfig{Dir: cfg.EmbeddedEtcdDir, Logger: log})
		if err != nil {
			return err
		}
		defer emb.Close()
		endpoints = emb.Endpoints()
		log.Info("embedded etcd serving", zap.Strings("endpoints", endpoints), zap.String("dir", cfg.EmbeddedEtcdDir))
	}
	cli, err := datastore.NewClient(datastore.Config{
		Endpoints: endpoints, CACertFile: cfg.EtcdCACert, CertFile: cfg.EtcdCert, KeyFile: cfg.EtcdKey,
	}, log)
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
	rcfg.MarkAllow, rcfg.MarkPass = uint32(cfg.MarkAllow), uint32(cfg.MarkPass)
	warnForeignDrops(ctx, writer, rcfg, log)

	syncer := datastore.NewSyncer(cli, datastore.SyncerOptions{Logger: log.Named("datastore")})
	graph := calc.NewGraph(cfg.NodeName, log.Named("calc"))
	ifaces := make(chan ifacemon.Snapshot)
	driver := dataplane.NewDriver(dataplane.Options{
		Interfaces:      ifaces,
		Writer:          writer,
		Log:             log.Named("dataplane"),
		Render:          rcfg,
		RetryMax:        cfg.ApplyRetryMax,
		RefreshInterval: cfg.RefreshInterval,
		OnApply:         logApply(log.Named("dataplane")),
	})

	batches := make(chan datastore.Batch)
	calcIn := make(chan calc.Input)
	toDataplane := make(chan []*proto.ToDataplane)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return syncer.Run(gctx, batches) })
	g.Go(func() error { return adapt(gctx, batches, calcIn, log) })
	g.Go(func() error { return graph.Run(gctx, calcIn, toDataplane) })
	g.Go(func() error { return driver.Run(gctx, toDataplane) })
	g.Go(func() error { return ifacemon.Watch(gctx, ifaces, log.Named("interfaces")) })
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		log.Info("stopping; the kernel rules stay in place")
		return nil
	}
	return err
}

// adapt converts the datastore's batches into the graph's input and logs
// changes of the datastore's status.
func adapt(ctx context.Context, in <-chan datastore.Batch, out chan<- calc.Input, log *zap.Logger) error {
	status := datastore.WaitingForDatastore
	for {
		var b datastore.Batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b = <-in:
		}
		if b.Status != status {
			log.Info("datastore status", zap.Stringer("from", status), zap.Stringer("to", b.Status))
			status = b.Status
		}
		ci := calc.Input{Updates: make([]calc.KV, len(b.Updates)), InSync: b.Status == datastore.InSync}
		for i, u := range b.Updates {
			ci.Updates[i] = calc.KV{Key: u.Key, Value: u.Value}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case out <- ci:
		}
	}
}

func logApply(log *zap.Logger) func(dataplane.ApplyResult) {
	first := true
	return func(r dataplane.ApplyResult) {
		switch {
		case r.Err != nil:
			// The driver logs failures with their retry delay.
		case first:
			log.Info("dataplane programmed", zap.Int("operations", r.Ops), zap.Duration("took", r.Duration), zap.Bool("took_over_existing_table", r.Resynced))
			first = false
		case r.Ops > 0 && r.Resynced:
			log.Warn("dataplane differed from the desired state and was repaired", zap.Int("operations", r.Ops))
		case r.Ops > 0:
			log.Debug("dataplane updated", zap.Int("operations", r.Ops), zap.Duration("took", r.Duration))
		}
	}
}

// warnForeignDrops logs a warning for each base chain of another table that
// drops by default on a hook where untracked traffic passes: nftables'
// accept is final only within a table, so such a chain drops what untrackd
// allowed unless it accepts untracked packets itself.
func warnForeignDrops(ctx context.Context, w nft.Writer, rcfg render.Config, log *zap.Logger) {
	hi, ok := w.(nft.HookInspector)
	if !ok {
		return
	}
	chains, err := hi.ForeignBaseChains(ctx)
	if err != nil {
		log.Debug("could not inspect other nftables tables", zap.Error(err))
		return
	}
	for _, c := range chains {
		if c.Policy != nft.PolicyDrop {
			continue
		}
		switch c.Hook {
		case nft.HookPrerouting, nft.HookInput, nft.HookForward, nft.HookOutput:
		default:
			continue
		}
		log.Warn("another nftables table drops by default on a hook untracked traffic uses; "+
			"make it accept untracked packets (\"ct state untracked accept\" or \"meta mark & mask == mask accept\") "+
			"or traffic untrackd allows will be dropped",
			zap.String("table", c.Family+" "+c.Table), zap.String("chain", c.Chain), zap.String("hook", string(c.Hook)),
			zap.Int32("priority", c.Priority), zap.String("mark", fmt.Sprintf("%#x", rcfg.MarkAllow)))
	}
}
