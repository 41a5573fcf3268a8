package render

import "github.com/untrackd/untrackd/dataplane/nft"

// Cache keeps the policy and profile chains of the last render, keyed by
// chain name and the message they were rendered from, for RenderCached.
// A Cache belongs to one caller (the dataplane driver's goroutine) and must
// be used with one Config. The zero value is not usable; use NewCache.
type Cache struct {
	chains map[string]cached
}

type cached struct {
	src   any // the *proto.Policy or *proto.Profile rendered
	chain *nft.Chain
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{chains: map[string]cached{}} }

func (c *Cache) get(name string, src any) *nft.Chain {
	if c == nil {
		return nil
	}
	if e, ok := c.chains[name]; ok && e.src == src {
		return e.chain
	}
	return nil
}

func (c *Cache) put(name string, src any, chain *nft.Chain) {
	if c != nil {
		c.chains[name] = cached{src: src, chain: chain}
	}
}

// sweep forgets the chains the last render did not use.
func (c *Cache) sweep(rs *Ruleset) {
	if c == nil {
		return
	}
	for name := range c.chains {
		if rs.Chains[name] == nil {
			delete(c.chains, name)
		}
	}
}
