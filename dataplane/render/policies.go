package render

import (
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/proto"
)

// untrackedPolicy renders (once) the chain of an untracked policy's rules
// for one direction and returns its name. Allow sets the allow mark,
// exempts the packet from conntrack and accepts; Deny drops; Log logs and
// goes on; Pass sets the pass mark and returns.
func (r *renderer) untrackedPolicy(name string, in bool) string {
	cn := PolicyUntrackedChain(name, in)
	r.memo(cn, r.in.Policies[name], func(c *nft.Chain) {
		for _, rl := range direction(r.in.Policies[name], in) {
			c.Rules = append(c.Rules, r.renderRule(rl, r.untrackedAction(rl, name))...)
		}
	})
	return cn
}

// memo adds chain cn, rendered by fill from src (a policy or profile
// message), to the ruleset once. With a Cache, a chain rendered by an
// earlier call from the same message (the same pointer: messages are
// never modified once received) is reused, with its rule hashes.
func (r *renderer) memo(cn string, src any, fill func(c *nft.Chain)) {
	if r.rs.Chains[cn] != nil {
		return
	}
	if c := r.cache.get(cn, src); c != nil {
		r.rs.add(c)
		return
	}
	c := &nft.Chain{Name: cn}
	fill(c)
	r.rs.add(c)
	r.cache.put(cn, src, c)
}

// normalPolicy renders (once) chain cn with a normal or pre-DNAT policy's
// rules for one direction. Allow sets the accept mark and returns (the
// calling endpoint chain decides what accepting means); Deny drops; Log logs
// and goes on; Pass sets the pass mark and returns.
func (r *renderer) normalPolicy(name string, in bool, cn string) string {
	r.memo(cn, r.in.Policies[name], func(c *nft.Chain) {
		for _, rl := range direction(r.in.Policies[name], in) {
			c.Rules = append(c.Rules, r.renderRule(rl, r.markingAction(rl, name))...)
		}
	})
	return cn
}

// profile renders (once) the chain of a profile's rules for one direction,
// with the same actions as normal policy.
func (r *renderer) profile(name string, in bool) string {
	cn := ProfileChain(name, in)
	p := r.in.Profiles[name]
	r.memo(cn, p, func(c *nft.Chain) {
		rules := p.GetOutboundRules()
		if in {
			rules = p.GetInboundRules()
		}
		for _, rl := range rules {
			c.Rules = append(c.Rules, r.renderRule(rl, r.markingAction(rl, "profile "+name))...)
		}
	})
	return cn
}

func direction(p *proto.Policy, in bool) []*proto.Rule {
	if in {
		return p.GetInboundRules()
	}
	return p.GetOutboundRules()
}

func (r *renderer) untrackedAction(rl *proto.Rule, owner string) []nft.Expr {
	switch rl.Action {
	case proto.Action_ACTION_ALLOW:
		return []nft.Expr{nft.SetMarkBits{Bits: r.cfg.MarkAllow}, nft.Notrack{}, accept}
	case proto.Action_ACTION_DENY:
		return []nft.Expr{drop}
	case proto.Action_ACTION_LOG:
		return []nft.Expr{nft.Log{Prefix: logPrefix(r.cfg, owner)}}
	case proto.Action_ACTION_PASS:
		return []nft.Expr{nft.SetMarkBits{Bits: r.cfg.MarkPass}, ret}
	}
	return nil
}

func (r *renderer) markingAction(rl *proto.Rule, owner string) []nft.Expr {
	switch rl.Action {
	case proto.Action_ACTION_ALLOW:
		return []nft.Expr{nft.SetMarkBits{Bits: r.cfg.MarkAccept}, ret}
	case proto.Action_ACTION_DENY:
		return []nft.Expr{drop}
	case proto.Action_ACTION_LOG:
		return []nft.Expr{nft.Log{Prefix: logPrefix(r.cfg, owner)}}
	case proto.Action_ACTION_PASS:
		return []nft.Expr{nft.SetMarkBits{Bits: r.cfg.MarkPass}, ret}
	}
	return nil
}

// logPrefix is the prefix of a Log rule's messages: the configured prefix and
// the owner's name, within the kernel's 127-byte limit.
func logPrefix(cfg Config, owner string) string {
	p := cfg.LogPrefix + " " + owner + ": "
	if len(p) > 127 {
		p = p[:127]
	}
	return p
}
