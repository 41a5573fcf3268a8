package nft

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
)

// Packet is a synthetic packet for Fake.Trace: what the kernel's
// expressions would read from a real one at a hook.
type Packet struct {
	Hook     Hook   // prerouting, input, forward, output or postrouting
	IIF, OIF string // interface names, "" when there is none (see Trace)
	Src, Dst netip.Addr
	Proto    uint8  // IP protocol (meta l4proto)
	SrcPort  uint16 // tcp, udp, sctp, udplite, dccp (see Trace for others)
	DstPort  uint16
	ICMPType uint8 // ICMP or ICMPv6
	ICMPCode uint8
	Mark     uint32
	// CTState is the conntrack state the packet has at this hook: the one
	// conntrack gives it at this hook (prerouting, output) or gave it
	// before (input, forward, postrouting). One of the CT* constants;
	// CTUntracked means the packet arrives untracked. Zero matches no
	// ct state expression.
	CTState CTState
}

// TraceResult is what the table did to a packet at a hook.
type TraceResult struct {
	Verdict VerdictKind // Accept or Drop: the table's verdict at the hook
	Mark    uint32      // the packet mark after evaluation
	Notrack bool        // a notrack statement ran (whether or not it took effect)
	// CTState is the packet's conntrack state after the hook: CTUntracked
	// if a notrack took effect, else Packet.CTState. It is what the packet
	// has at the next hook.
	CTState CTState
	Logged  []string // the prefix of every log statement run, in order
	Counted []string // "chain:rule-index" of every counter statement run, in order
	// Path is "chain:rule-index" of every rule that matched (all its
	// matches held, so it ran to its end or to its verdict), in order.
	Path []string
}

// maxChainLevel is NFT_JUMP_STACK_SIZE: the kernel refuses (EMLINK) a
// ruleset in which a chain is reached from a base chain through that many
// jumps and gotos (checked: 15 load, 16 do not).
const maxChainLevel = 16

// conntrackPriority is NF_IP_PRI_CONNTRACK (also IPv6's): conntrack's own
// hook in prerouting and output.
const conntrackPriority = -200

// Trace evaluates p through the base chains of p.Hook in untrackd's table,
// as the kernel would, and returns the table's verdict and what it did to
// the packet. It does not change the Fake.
//
// Base chains run in priority order (by name at equal priority; the kernel
// orders those by registration). Accept ends a base chain and the packet
// goes on to the next one; drop ends the hook with Drop (Verdict is Drop if
// any base chain dropped, else Accept; no base chain at all is Accept).
// Within a base chain, rules run in order and expressions left to right: a
// failing match ends the rule, statements before it have run (counters,
// logs, marks, notrack). A jump pushes the rest of the current chain and
// runs the target; a goto replaces the current chain with the target,
// pushing nothing; return, or the end of a chain, resumes the chain
// pushed last, or, if there is none (return or the end of the base chain,
// also after a goto from it), applies the base chain's policy (accept when
// none is set). A mark set or cleared holds for every later rule, in this
// and the later base chains.
//
// What the expressions see, as in the kernel:
//   - iifname sees "" at output and oifname "" at prerouting and input,
//     whatever p says (no device there); iifname at postrouting is p.IIF
//     (the kernel passes the input device of forwarded packets there).
//   - meta nfproto is the family of p.Src and p.Dst, which must both be
//     valid and of one family (Trace panics otherwise).
//   - Ports and address-protocol-port lookups read the transport header's
//     first four bytes: SrcPort and DstPort; for ICMP and ICMPv6 the first
//     two are the type and code, so th sport is Type<<8|Code, and th dport
//     (the checksum) is taken to be DstPort. Fragments and truncated
//     headers are not modelled.
//   - ct state: conntrack runs at priority -200 in prerouting and output,
//     so a base chain there with a lower priority sees a packet with no
//     conntrack entry: state invalid (untracked if it is already, and at
//     prerouting from "lo" the entry it got at output: p.CTState). Later
//     chains, and every chain of the other hooks, see p.CTState (a chain
//     at exactly -200 counts as after conntrack; in the kernel that
//     depends on registration order). A notrack statement takes effect
//     only on a packet with no conntrack entry, i.e. when the state it
//     would see is invalid; from then on the packet is untracked.
//
// Trace panics if evaluation would reach a chain through 16 nested jumps
// or gotos (including any jump loop), a ruleset the kernel refuses to load
// but the Fake accepts.
func (f *Fake) Trace(p Packet) TraceResult {
	t := newTracer(f, p)
	for _, c := range f.baseChains(p.Hook) {
		if t.runBase(c) == Drop {
			t.res.Verdict = Drop
			break
		}
	}
	if t.untracked {
		t.res.CTState = CTUntracked
	}
	return t.res
}

// TraceHooks traces p through hooks in order, as one packet: each hook sees
// the mark and conntrack state the hooks before it left, and the first
// that drops ends the trace. p.Hook is ignored. The result's Logged,
// Counted and Path are those of all the hooks run, in order. For example
// (prerouting, input) for a packet to the host, (prerouting, forward,
// postrouting) for a forwarded one, (output, postrouting) for one the host
// sends.
func (f *Fake) TraceHooks(p Packet, hooks ...Hook) TraceResult {
	res := TraceResult{Verdict: Accept, Mark: p.Mark, CTState: p.CTState}
	for _, h := range hooks {
		p.Hook = h
		r := f.Trace(p)
		res.Mark, res.CTState = r.Mark, r.CTState
		res.Notrack = res.Notrack || r.Notrack
		res.Logged = append(res.Logged, r.Logged...)
		res.Counted = append(res.Counted, r.Counted...)
		res.Path = append(res.Path, r.Path...)
		if r.Verdict == Drop {
			res.Verdict = Drop
			break
		}
		p.Mark, p.CTState = r.Mark, r.CTState
	}
	return res
}

// baseChains returns the base chains of the hook in evaluation order.
func (f *Fake) baseChains(h Hook) []*fakeChain {
	switch h {
	case HookPrerouting, HookInput, HookForward, HookOutput, HookPostrouting:
	default:
		panic(fmt.Sprintf("nft: Trace: unknown hook %q", h))
	}
	if f.table == nil {
		return nil
	}
	var out []*fakeChain
	for _, c := range f.table.chains {
		if c.base != nil && c.base.Hook == h {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *fakeChain) int {
		return cmp.Or(cmp.Compare(a.base.Priority, b.base.Priority), cmp.Compare(a.name, b.name))
	})
	return out
}

// tracer is the state of one Trace.
type tracer struct {
	table     *fakeTable
	p         Packet
	family    Family
	iif, oif  string
	untracked bool // the packet is untracked (arrived so, or a notrack took effect)
	res       TraceResult
}

func newTracer(f *Fake, p Packet) *tracer {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		panic(fmt.Sprintf("nft: Trace: source %s and destination %s are not valid addresses of one family", p.Src, p.Dst))
	}
	t := &tracer{table: f.table, p: p, family: IPv6, iif: p.IIF, oif: p.OIF,
		untracked: p.CTState == CTUntracked,
		res:       TraceResult{Verdict: Accept, Mark: p.Mark, CTState: p.CTState}}
	if p.Src.Is4() {
		t.family = IPv4
	}
	switch p.Hook {
	case HookPrerouting, HookInput:
		t.oif = ""
	case HookOutput:
		t.iif = ""
	}
	return t
}

// frame is a chain position pushed by a jump: where to resume, and the
// chain's level (jumps and gotos from the base chain).
type frame struct {
	chain *fakeChain
	next  int
	level int
}

// runBase runs a base chain and returns its verdict, Accept or Drop.
func (t *tracer) runBase(base *fakeChain) VerdictKind {
	before := base.base.Priority < conntrackPriority &&
		(base.base.Hook == HookOutput || base.base.Hook == HookPrerouting && t.iif != "lo")
	var stack []frame
	cur, next, level := base, 0, 0
	for {
		if next >= len(cur.rules) {
			if len(stack) == 0 {
				if base.base.Policy == PolicyDrop {
					return Drop
				}
				return Accept
			}
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			cur, next, level = top.chain, top.next, top.level
			continue
		}
		v, ok := t.runRule(cur, next, before)
		next++
		if !ok {
			continue
		}
		switch v.Kind {
		case Accept, Drop:
			return v.Kind
		case Return:
			next = len(cur.rules)
		case Jump, Goto:
			target := t.table.chains[v.Chain]
			if target == nil || target.base != nil {
				panic(fmt.Sprintf("nft: Trace: %s from chain %s to a chain that is missing or a base chain", v, cur.name))
			}
			if level+1 >= maxChainLevel {
				panic(fmt.Sprintf("nft: Trace: %s from chain %s nests chains %d deep (or loops): the kernel refuses such a ruleset (EMLINK)",
					v, cur.name, level+1))
			}
			if v.Kind == Jump {
				stack = append(stack, frame{chain: cur, next: next, level: level})
			}
			cur, next, level = target, 0, level+1
		default:
			panic(fmt.Sprintf("nft: Trace: verdict %s", v))
		}
	}
}

// runRule evaluates rule i of chain c. It returns the rule's verdict and
// true if it matched and has one, or false.
func (t *tracer) runRule(c *fakeChain, i int, beforeConntrack bool) (Verdict, bool) {
	pos := c.name + ":" + strconv.Itoa(i)
	for _, e := range c.rules[i].rule.Exprs {
		switch e := e.(type) {
		case Counter:
			t.res.Counted = append(t.res.Counted, pos)
		case Log:
			t.res.Logged = append(t.res.Logged, e.Prefix)
		case SetMarkBits:
			t.res.Mark |= e.Bits
		case ClearMarkBits:
			t.res.Mark &^= e.Bits
		case Notrack:
			t.res.Notrack = true
			if t.ctState(beforeConntrack) == CTInvalid {
				t.untracked = true
			}
		case Verdict:
			t.res.Path = append(t.res.Path, pos)
			return e, true
		default:
			if !t.matches(e, beforeConntrack) {
				return Verdict{}, false
			}
		}
	}
	t.res.Path = append(t.res.Path, pos)
	return Verdict{}, false
}

// ctState is the conntrack state a ct expression sees.
func (t *tracer) ctState(beforeConntrack bool) CTState {
	switch {
	case t.untracked:
		return CTUntracked
	case beforeConntrack:
		return CTInvalid // no conntrack entry yet
	}
	return t.p.CTState
}

// matches evaluates a match expression.
func (t *tracer) matches(e Expr, beforeConntrack bool) bool {
	p := &t.p
	switch e := e.(type) {
	case IfName:
		name := t.iif
		if e.Out {
			name = t.oif
		}
		return (name == e.Name) != e.Neg
	case NFProto:
		return t.family == e.Family
	case L4Proto:
		return (p.Proto == e.Proto) != e.Neg
	case Ports:
		port := t.port(e.Field == SrcPort)
		in := slices.ContainsFunc(e.Ranges, func(r PortRange) bool { return r.First <= port && port <= r.Last })
		return in != e.Neg
	case Addrs:
		a := t.addr(e.Field)
		in := slices.ContainsFunc(e.Prefixes, func(pf netip.Prefix) bool { return pf.Masked().Contains(a) })
		return in != e.Neg
	case AddrInSet:
		return t.set(e.Set).containsAddr(t.addr(e.Field)) != e.Neg
	case AddrPortInSet:
		key := AddrPort{Addr: t.addr(e.Field), Proto: p.Proto, Port: t.port(e.Field == SrcAddr)}
		_, in := slices.BinarySearchFunc(t.set(e.Set).tuples, key, AddrPort.Compare)
		return in != e.Neg
	case Mark:
		return t.res.Mark&e.Mask == e.Value
	case CTStateIn:
		return t.ctState(beforeConntrack)&e.States != 0
	case ICMP:
		if e.HasCode {
			return (p.ICMPType == e.Type && p.ICMPCode == e.Code) != e.Neg
		}
		return (p.ICMPType == e.Type) != e.Neg
	}
	panic(fmt.Sprintf("nft: Trace: expression %T", e))
}

func (t *tracer) addr(f AddrField) netip.Addr {
	if f == SrcAddr {
		return t.p.Src
	}
	return t.p.Dst
}

// port returns what th sport (src) or th dport reads.
func (t *tracer) port(src bool) uint16 {
	if src && (t.p.Proto == 1 || t.p.Proto == 58) {
		return uint16(t.p.ICMPType)<<8 | uint16(t.p.ICMPCode)
	}
	if src {
		return t.p.SrcPort
	}
	return t.p.DstPort
}

func (t *tracer) set(name string) *fakeSet {
	s := t.table.sets[name]
	if s == nil {
		panic(fmt.Sprintf("nft: Trace: set %q is missing", name))
	}
	return s
}

// containsAddr reports whether a is in one of the set's intervals.
func (s *fakeSet) containsAddr(a netip.Addr) bool {
	i := sort.Search(len(s.elements), func(i int) bool { return !s.elements[i].Last.Less(a) })
	return i < len(s.elements) && !a.Less(s.elements[i].First) && a.Is4() == s.elements[i].First.Is4()
}
