package calc

import (
	"context"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/proto"
)

// KV is the new state of one datastore key; Value nil means absent.
type KV struct {
	Key   model.Key
	Value model.Resource
}

// Input is one batch of datastore changes for the graph.
type Input struct {
	Updates []KV
	// InSync is true when, after these updates, the graph has seen a
	// complete datastore listing. Once true, later batches may say false
	// (the datastore lost its sync); the graph keeps its state.
	InSync bool
	// Observer, if set, is told when Apply starts and ends (observer.go).
	Observer Observer
}

// Run owns the graph: it applies input batches and sends the Sequencer's
// output, one flushed batch at a time, on out. While the consumer is busy,
// changes keep coalescing in the Sequencer, so a slow dataplane sees fewer,
// larger batches rather than a growing queue. Run returns when ctx is done;
// it never closes out.
func (g *Graph) Run(ctx context.Context, in <-chan Input, out chan<- []*proto.ToDataplane) error {
	var outbox []*proto.ToDataplane
	for {
		if outbox == nil {
			outbox = g.seq.Flush()
		}
		var sendCh chan<- []*proto.ToDataplane
		if outbox != nil {
			sendCh = out
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case b := <-in:
			g.Apply(b)
		case sendCh <- outbox:
			outbox = nil
		}
	}
}

// Apply applies one input batch synchronously.
func (g *Graph) Apply(b Input) {
	defer b.observe()()
	for _, kv := range b.Updates {
		g.OnUpdate(kv.Key, kv.Value)
	}
	if b.InSync && !g.seq.InSync() {
		g.OnInSync()
	}
}
