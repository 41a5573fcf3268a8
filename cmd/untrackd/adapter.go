package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/datastore"
)

// adapt converts the datastore's batches into the graph's input. Before
// handing a batch on it lets ops see it (datastore status, FelixConfiguration
// changes) and tells the monitor, which the graph's observer tells in turn
// when the graph has finished the batch. It logs changes of the datastore's
// status.
func adapt(ctx context.Context, in <-chan datastore.Batch, out chan<- calc.Input, o *ops) error {
	status := datastore.WaitingForDatastore
	for {
		var b datastore.Batch
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b = <-in:
		}
		if b.Status != status {
			o.log.Info("datastore status", zap.Stringer("from", status), zap.Stringer("to", b.Status))
			status = b.Status
		}
		o.datastoreBatch(b)
		ci := calc.Input{Updates: make([]calc.KV, len(b.Updates)), InSync: b.Status == datastore.InSync, Observer: o.observer}
		for i, u := range b.Updates {
			ci.Updates[i] = calc.KV{Key: u.Key, Value: u.Value}
		}
		o.mon.calcHandover()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case out <- ci:
		}
	}
}
