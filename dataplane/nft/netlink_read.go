package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// List implements Writer. It reads the table with netlink dumps: the
// table, its chains, each chain's rules (the library decodes their
// expressions, but only the handle and the comment are used: the Hash
// comes from the comment), its named sets and their elements, which come
// back as the intervals they were added as, sorted, or for
// address-protocol-port sets as the tuples, sorted (see readTuples), or for
// port sets as their sorted ranges, in Set.Ports. List
// returns a snapshot: it reads again when another process committed while
// it read (see listSnapshot).
func (n *Netlink) List(ctx context.Context) (*TableState, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.sock.SetDeadline(n.deadline(ctx)); err != nil {
		return nil, err
	}
	defer n.sock.SetDeadline(time.Time{})
	if err := n.prepare(); err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	st, err := n.listSnapshot()
	if err != nil {
		return nil, fmt.Errorf("nft: listing table inet %s: %w", TableName, err)
	}
	return st, nil
}

func (n *Netlink) list() (*TableState, error) {
	if _, err := n.conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, err
	}
	st := &TableState{Chains: map[string]*ChainState{}, Sets: map[string]*SetState{}}
	chains, err := n.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("chains: %w", err)
	}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != TableName {
			continue
		}
		cs := &ChainState{Name: c.Name}
		if c.Hooknum != nil {
			cs.Base = &BaseChain{Hook: hookName(nftables.TableFamilyINet, *c.Hooknum), Policy: policyName(c.Policy)}
			if c.Priority != nil {
				cs.Base.Priority = int32(*c.Priority)
			}
		}
		rules, err := n.conn.GetRules(n.table, c)
		if err != nil {
			return nil, fmt.Errorf("rules of chain %s: %w", c.Name, err)
		}
		for _, r := range rules {
			cs.Rules = append(cs.Rules, RuleState{Handle: r.Handle, Hash: HashFromComment(ruleComment(r.UserData))})
		}
		st.Chains[c.Name] = cs
	}
	sets, err := n.listSets()
	if err != nil {
		return nil, fmt.Errorf("sets: %w", err)
	}
	for _, s := range sets {
		ss := &SetState{Set: s.Set}
		if s.Type == SetPorts {
			elems, err := n.conn.GetSetElements(&nftables.Set{Table: n.table, Name: s.Name})
			if err == nil {
				ss.Ports, err = elementsToPortRanges(elems)
			}
			if err != nil {
				return nil, fmt.Errorf("elements of set %s: %w", s.Name, err)
			}
			st.Sets[s.Name] = ss
			continue
		}
		if s.Type.IsAddrPort() {
			if ss.Tuples, err = n.readTuples(s); err != nil {
				return nil, fmt.Errorf("elements of set %s: %w", s.Name, err)
			}
			st.Sets[s.Name] = ss
			continue
		}
		if s.interval {
			ss.Elements, err = n.readIntervals(s.Name, s.keyLen)
		} else {
			var elems []nftables.SetElement
			if elems, err = n.conn.GetSetElements(&nftables.Set{Table: n.table, Name: s.Name}); err == nil {
				ss.Elements, err = singleElements(elems, s.keyLen)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("elements of set %s: %w", s.Name, err)
		}
		st.Sets[s.Name] = ss
	}
	return st, nil
}

// readTuples reads the elements of an address-protocol-port set.
//
// Such a set is a hash table (rhashtable) in the kernel, and a dump of it
// is not a snapshot when it takes several messages: for each message the
// kernel walks the table from the start and skips the elements it sent
// before, so if the table is resized between two messages (the kernel
// grows and shrinks it in the background after large changes, so this
// happens for a while after a big Run) the walk order changes and some
// elements come twice while as many never come. Measured with 50,000
// elements listed right after adding them: thousands duplicated, every
// time. A dump without duplicates is complete (the skip count keeps the
// total right), so readTuples reads again, after a growing pause, until a
// dump has none.
func (n *Netlink) readTuples(s setInfo) ([]AddrPort, error) {
	pause := 5 * time.Millisecond
	for attempt := 1; ; attempt++ {
		elems, err := n.conn.GetSetElements(&nftables.Set{Table: n.table, Name: s.Name})
		if err != nil {
			return nil, err
		}
		tuples, err := tuplesFromElements(elems, s.Type.Family() == IPv4)
		if err != nil {
			return nil, err
		}
		if !hasAdjacentDuplicate(tuples) {
			return tuples, nil
		}
		if attempt == maxDumpAttempts {
			return nil, fmt.Errorf("%d dumps of the set were inconsistent (elements repeated: the kernel kept resizing it)", attempt)
		}
		time.Sleep(pause)
		pause *= 2
	}
}

// maxDumpAttempts bounds readTuples's attempts (their pauses add up to
// about 2.5 s).
const maxDumpAttempts = 10

func hasAdjacentDuplicate(sorted []AddrPort) bool {
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return true
		}
	}
	return false
}

// ruleComment returns the comment in a rule's userdata, as nft stores it.
func ruleComment(ud []byte) string {
	c, _ := udataString(ud, userdata.TypeComment)
	return c
}

// udataString is userdata.GetString after checking that the TLVs are well
// formed (userdata.Get does not: it panics on truncated input, and userdata
// is whatever any program wrote).
func udataString(ud []byte, typ userdata.Type) (string, bool) {
	for p := ud; len(p) > 0; {
		if len(p) < 2 || len(p) < 2+int(p[1]) {
			return "", false
		}
		p = p[2+int(p[1]):]
	}
	return userdata.GetString(ud, typ)
}

// setInfo is a named set as dumped.
type setInfo struct {
	Set
	keyLen   int
	interval bool
}

// dump sends an nftables dump request of type msg (NFT_MSG_GET…) for the
// inet family with attrs, and returns each reply's attributes (what
// follows its nfgenmsg).
func (n *Netlink) dump(msg uint16, attrs []netlink.Attribute) ([][]byte, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	msgs, err := n.sock.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msg), Flags: netlink.Request | netlink.Dump},
		Data:   append(genmsg(unix.NFPROTO_INET, 0), data...),
	})
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(msgs))
	for _, m := range msgs {
		if len(m.Data) >= genmsgLen {
			out = append(out, m.Data[genmsgLen:])
		}
	}
	return out, nil
}

// listSets dumps the table's named sets. (The library's GetSets drops the
// set comment, so the dump is parsed here.)
func (n *Netlink) listSets() ([]setInfo, error) {
	replies, err := n.dump(unix.NFT_MSG_GETSET, []netlink.Attribute{{Type: unix.NFTA_SET_TABLE, Data: []byte(TableName + "\x00")}})
	if err != nil {
		return nil, err
	}
	var out []setInfo
	for _, r := range replies {
		ad, err := netlink.NewAttributeDecoder(r)
		if err != nil {
			return nil, err
		}
		var s setInfo
		var flags, keyType uint32
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_SET_NAME:
				s.Name = ad.String()
			case unix.NFTA_SET_FLAGS:
				flags = beUint32(ad.Bytes())
			case unix.NFTA_SET_KEY_TYPE:
				keyType = beUint32(ad.Bytes())
			case unix.NFTA_SET_KEY_LEN:
				s.keyLen = int(beUint32(ad.Bytes()))
			case unix.NFTA_SET_USERDATA:
				s.Comment, _ = udataString(ad.Bytes(), userdata.NFTNL_UDATA_SET_COMMENT)
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
		if flags&unix.NFT_SET_ANONYMOUS != 0 {
			continue
		}
		s.interval = flags&unix.NFT_SET_INTERVAL != 0
		switch {
		case keyType == nftables.TypeIPAddr.GetNFTMagic() && s.keyLen == 4:
			s.Type = SetIPv4
		case keyType == nftables.TypeIP6Addr.GetNFTMagic() && s.keyLen == 16:
			s.Type = SetIPv6
		case keyType == tupleKeyType4.GetNFTMagic() && s.keyLen == tupleKeyLen(true) && !s.interval:
			s.Type = SetIPv4ProtoPort
		case keyType == tupleKeyType6.GetNFTMagic() && s.keyLen == tupleKeyLen(false) && !s.interval:
			s.Type = SetIPv6ProtoPort
		case keyType == nftables.TypeInetService.GetNFTMagic() && s.keyLen == 2 && s.interval && flags&unix.NFT_SET_CONSTANT != 0:
			s.Type = SetPorts
		default:
			s.Type = SetType("type" + strconv.FormatUint(uint64(keyType), 10))
		}
		out = append(out, s)
	}
	return out, nil
}

func beUint32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// singleElements reads the elements of a set without intervals: each is one
// address.
func singleElements(elems []nftables.SetElement, keyLen int) ([]Interval, error) {
	out := make([]Interval, 0, len(elems))
	for _, e := range elems {
		a, ok := netip.AddrFromSlice(e.Key)
		if !ok || len(e.Key) != keyLen {
			return nil, fmt.Errorf("set element key of %d bytes", len(e.Key))
		}
		out = append(out, Interval{First: a, Last: a})
	}
	slices.SortFunc(out, func(a, b Interval) int { return a.First.Compare(b.First) })
	return out, nil
}

// ForeignBaseChains implements HookInspector: the base chains of every
// other table, of any family, with hook, priority and policy. It dumps
// chains only (no rules), so it is cheap. The result is sorted by family,
// table and chain.
func (n *Netlink) ForeignBaseChains(ctx context.Context) ([]ForeignChain, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := n.sock.SetDeadline(n.deadline(ctx)); err != nil {
		return nil, err
	}
	defer n.sock.SetDeadline(time.Time{})
	if err := n.prepare(); err != nil {
		return nil, fmt.Errorf("nft: %w", err)
	}
	chains, err := n.conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nft: listing chains: %w", err)
	}
	var out []ForeignChain
	for _, c := range chains {
		if c.Hooknum == nil || c.Table == nil ||
			(c.Table.Family == nftables.TableFamilyINet && c.Table.Name == TableName) {
			continue
		}
		fc := ForeignChain{
			Family: familyName(c.Table.Family),
			Table:  c.Table.Name,
			Chain:  c.Name,
			Hook:   hookName(c.Table.Family, *c.Hooknum),
			Policy: policyName(c.Policy),
		}
		if c.Priority != nil {
			fc.Priority = int32(*c.Priority)
		}
		out = append(out, fc)
	}
	slices.SortFunc(out, func(a, b ForeignChain) int {
		return strings.Compare(a.Family+"\x00"+a.Table+"\x00"+a.Chain, b.Family+"\x00"+b.Table+"\x00"+b.Chain)
	})
	return out, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyINet:
		return "inet"
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyARP:
		return "arp"
	case nftables.TableFamilyBridge:
		return "bridge"
	case nftables.TableFamilyNetdev:
		return "netdev"
	}
	return "family" + strconv.Itoa(int(f))
}

// hookName names a hook number of a family as nft does.
func hookName(f nftables.TableFamily, h nftables.ChainHook) Hook {
	var names []string
	switch f {
	case nftables.TableFamilyNetdev:
		names = []string{"ingress", "egress"}
	case nftables.TableFamilyARP:
		names = []string{"input", "output", "forward"}
	default: // inet, ip, ip6, bridge
		names = []string{"prerouting", "input", "forward", "output", "postrouting", "ingress"}
	}
	if int(h) < len(names) {
		return Hook(names[h])
	}
	return Hook("hook" + strconv.Itoa(int(h)))
}

func policyName(p *nftables.ChainPolicy) ChainPolicy {
	switch {
	case p == nil:
		return ""
	case *p == nftables.ChainPolicyAccept:
		return PolicyAccept
	case *p == nftables.ChainPolicyDrop:
		return PolicyDrop
	}
	return ChainPolicy("policy" + strconv.Itoa(int(*p)))
}
