package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
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

// etcdMain is "bench-scale etcd": an embedded etcd in the namespace the
// benchmark started it in, kept out of the daemon's process so that the
// daemon's memory is its own.
func etcdMain(args []string) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	dir := fs.String("dir", "", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, err := datastore.StartEmbedded(datastore.EmbeddedConfig{Dir: *dir, UnsafeNoFsync: true})
	if err != nil {
		return err
	}
	defer e.Close()
	fmt.Println("etcd ready")
	<-ctx.Done()
	return nil
}

// applyLine is what "bench-scale shadow" prints after every apply.
type applyLine struct {
	Apply    bool    `json:"apply"`
	At       int64   `json:"at_unix_ns"`
	Ops      int     `json:"ops"`
	Messages int     `json:"messages"`
	Bytes    int     `json:"bytes"`
	TookMs   float64 `json:"took_ms"`
	Err      string  `json:"err,omitempty"`
}

// shadowMain is "bench-scale shadow": untrackd's pipeline (datastore →
// calc → dataplane) built from its packages as cmd/untrackd wires them,
// with the netlink writer wrapped in nft.StatsWriter so that every apply's
// batch size is reported (one JSON line per apply on stdout), and
// optional CPU and heap profiles. It leaves out what does not touch the
// data path: health, metrics, systemd notification.
func shadowMain(args []string) error {
	fs := flag.NewFlagSet("shadow", flag.ContinueOnError)
	endpoint := fs.String("etcd-endpoints", "http://127.0.0.1:2379", "etcd")
	node := fs.String("node-name", thisNode, "node name")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile here")
	memprofile := fs.String("memprofile", "", "write a heap profile here at exit")
	gcPercent := fs.Int("gc-percent", 40, "GOGC, as untrackd's --gc-percent (its default)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	debug.SetGCPercent(*gcPercent)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	if *memprofile != "" {
		defer func() {
			if f, err := os.Create(*memprofile); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}()
	}
	log := zap.NewNop()
	cli, err := datastore.NewClient(datastore.Config{Endpoints: []string{*endpoint}}, log)
	if err != nil {
		return err
	}
	defer func() { _ = cli.Close() }()
	nl, err := nft.NewNetlink()
	if err != nil {
		return err
	}
	defer func() { _ = nl.Close() }()
	var last nft.RunStats // summed over the Runs of one apply (start-up fills new sets first)
	writer := nft.NewStatsWriter(nl, func(s nft.RunStats) {
		last.Messages += s.Messages
		last.Bytes += s.Bytes
	})
	enc := json.NewEncoder(os.Stdout)
	onApply := func(r dataplane.ApplyResult) {
		l := applyLine{Apply: true, At: time.Now().UnixNano(), Ops: r.Ops, TookMs: r.Duration.Seconds() * 1000}
		if r.Ops > 0 {
			l.Messages, l.Bytes = last.Messages, last.Bytes
		}
		if r.Err != nil {
			l.Err = r.Err.Error()
		}
		last = nft.RunStats{}
		_ = enc.Encode(l)
	}
	ifaces := make(chan ifacemon.Snapshot)
	driver := dataplane.NewDriver(dataplane.Options{
		Interfaces: ifaces, Writer: writer, Log: log, Render: render.DefaultConfig(), OnApply: onApply,
		RefreshInterval: 90 * time.Second,
	})
	syncer := datastore.NewSyncer(cli, datastore.SyncerOptions{Logger: log})
	graph := calc.NewGraph(*node, log)
	batches := make(chan datastore.Batch)
	calcIn := make(chan calc.Input)
	toDriver := make(chan []*proto.ToDataplane)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return syncer.Run(gctx, batches) })
	g.Go(func() error { return adapt(gctx, batches, calcIn) })
	g.Go(func() error { return graph.Run(gctx, calcIn, toDriver) })
	g.Go(func() error { return driver.Run(gctx, toDriver) })
	g.Go(func() error { return ifacemon.Watch(gctx, ifaces, log) })
	err = g.Wait()
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

// adapt is cmd/untrackd's adapter without its metrics: datastore batches
// become the graph's input.
func adapt(ctx context.Context, in <-chan datastore.Batch, out chan<- calc.Input) error {
	for {
		var b datastore.Batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b = <-in:
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
