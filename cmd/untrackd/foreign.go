package main

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
)

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
