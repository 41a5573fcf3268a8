package dataplane

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/proto"
)

// bigClients is the seed with 120,000 /32s (and the seed's members) in the
// clients set: more than two prefill transactions' worth.
func bigClients() []*proto.ToDataplane {
	members := []string{"192.168.0.0/24", "fd00::/64"}
	for i := 0; i < 120_000; i++ {
		members = append(members, fmt.Sprintf("10.%d.%d.%d/32", i>>16, (i>>8)&0xff, i&0xff))
	}
	msgs := append([]*proto.ToDataplane(nil), seed...)
	msgs[1] = ipsetMsg("clients", members...)
	return msgs
}

// failingWriter fails the Run numbered failAt (from 1).
type failingWriter struct {
	nft.Writer
	runs, failAt int
}

func (w *failingWriter) Run(ctx context.Context, tx *nft.Transaction) error {
	if w.runs++; w.runs == w.failAt {
		return errors.New("injected")
	}
	return w.Writer.Run(ctx, tx)
}

// TestPrefillLargeNewSets checks that a start with 120,000 new elements
// fills the sets in transactions of at most prefillElements elements that
// hold nothing but the table, sets and elements, then writes the rules in
// one more, and that the result is what one transaction would have
// written. A failure half-way is repaired by the next apply.
func TestPrefillLargeNewSets(t *testing.T) {
	ctx := context.Background()
	oneTx := nft.NewFake()
	d0 := newTestDriver(oneTx)
	d0.record(bigClients())
	rs, elems := render.Render(d0.opts.Render, d0.desired.renderInput()), d0.desired.elementSource()
	if err := oneTx.Run(ctx, plan(nil, rs, elems, nil)); err != nil {
		t.Fatal(err)
	}

	f := nft.NewFake()
	d := newTestDriver(f)
	d.record(bigClients())
	r, err := d.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Transactions) != 4 {
		t.Fatalf("%d transactions, want 3 fills and the rules", len(f.Transactions))
	}
	for i, tx := range f.Transactions[:3] {
		n := 0
		for _, op := range tx.Ops {
			switch op.Verb {
			case nft.AddTable, nft.AddSet:
			case nft.AddElements:
				n += len(op.Elements) + len(op.Tuples)
			default:
				t.Errorf("fill %d has a %v operation", i+1, op.Verb)
			}
		}
		if n > prefillElements {
			t.Errorf("fill %d carries %d elements (at most %d)", i+1, n, prefillElements)
		}
	}
	for _, op := range f.Transactions[3].Ops {
		if op.Verb == nft.AddElements || op.Verb == nft.AddSet || op.Verb == nft.AddTable {
			t.Errorf("the rules' transaction has a %v operation", op.Verb)
		}
	}
	if f.Dump() != oneTx.Dump() {
		t.Fatalf("prefilled table differs from one transaction's:\n%s", diffLines(oneTx.Dump(), f.Dump()))
	}
	ops := 0
	for _, tx := range f.Transactions {
		ops += tx.Len()
	}
	if r.Ops != ops {
		t.Errorf("Ops %d, want %d (the fills' and the rules')", r.Ops, ops)
	}

	// The second fill fails: the next apply reads back and completes.
	f2 := nft.NewFake()
	d2 := newTestDriver(&failingWriter{Writer: f2, failAt: 2})
	d2.record(bigClients())
	if _, err := d2.Apply(ctx); err == nil {
		t.Fatal("the injected failure was not reported")
	}
	if _, err := d2.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if f2.Dump() != oneTx.Dump() {
		t.Fatalf("after a failed fill and a retry:\n%s", diffLines(oneTx.Dump(), f2.Dump()))
	}
}
