package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// runCleanup deletes the table inet untrackd and everything in it, in one
// transaction. It is idempotent: with no table it only says so.
func runCleanup(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("untrackd cleanup", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	w, err := nft.NewNetlink()
	if err != nil {
		return fmt.Errorf("open nftables netlink socket: %w", err)
	}
	defer func() { _ = w.Close() }()
	st, err := w.List(ctx)
	if err != nil {
		return fmt.Errorf("read table inet %s: %w", nft.TableName, err)
	}
	if st == nil {
		fmt.Printf("no table inet %s: nothing to remove\n", nft.TableName)
		return nil
	}
	tx := &nft.Transaction{}
	tx.DeleteTable()
	if err := w.Run(ctx, tx); err != nil {
		return fmt.Errorf("delete table inet %s: %w", nft.TableName, err)
	}
	fmt.Printf("removed table inet %s (%d chains, %d sets)\n", nft.TableName, len(st.Chains), len(st.Sets))
	return nil
}
