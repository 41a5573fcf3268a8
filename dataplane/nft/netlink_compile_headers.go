package nft

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// loadTransport loads n bytes at off of the transport header into reg1.
func loadTransport(off, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: n}
}

// loadNetwork loads n bytes at off of the network header into reg1.
func loadNetwork(off, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
}

// compilePorts: a lookup in the named port set if the match has one;
// otherwise one port is a compare, one range is two compares (nft's
// encoding of a positive range) or a negated range expression, several are
// a lookup in an anonymous interval set of inet_service.
func (c *ruleCompiler) compilePorts(e Ports) ([]expr.Any, *anonymousSet, error) {
	if len(e.Ranges) == 0 {
		return nil, nil, fmt.Errorf("no ports: %w", ErrInvalid)
	}
	for _, r := range e.Ranges {
		if r.Last < r.First {
			return nil, nil, fmt.Errorf("port range %s: %w", r, ErrInvalid)
		}
	}
	off := uint32(0)
	if e.Field == DstPort {
		off = 2
	}
	out := []expr.Any{loadTransport(off, 2)}
	if e.Set != "" {
		return append(out, &expr.Lookup{SourceRegister: reg1, SetName: e.Set, Invert: e.Neg}), nil, nil
	}
	be := binaryutil.BigEndian.PutUint16
	if len(e.Ranges) == 1 {
		r := e.Ranges[0]
		switch {
		case r.First == r.Last:
			out = append(out, &expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: be(r.First)})
		case e.Neg:
			out = append(out, &expr.Range{Op: expr.CmpOpNeq, Register: reg1, FromData: be(r.First), ToData: be(r.Last)})
		default:
			out = append(out,
				&expr.Cmp{Op: expr.CmpOpGte, Register: reg1, Data: be(r.First)},
				&expr.Cmp{Op: expr.CmpOpLte, Register: reg1, Data: be(r.Last)})
		}
		return out, nil, nil
	}
	set := c.anonIntervalSet(nftables.TypeInetService, portKeyRanges(e.Ranges))
	out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: set.set.Name, SetID: set.set.ID, Invert: e.Neg})
	return out, set, nil
}

// addrOffset returns the offset and length of an address field in the
// network header.
func addrOffset(f Family, field AddrField) (off, n uint32) {
	if f == IPv6 {
		if field == SrcAddr {
			return 8, 16
		}
		return 24, 16
	}
	if field == SrcAddr {
		return 12, 4
	}
	return 16, 4
}

// compileAddrs: one prefix is a compare of the prefix's whole bytes, or a
// masked compare when the prefix length is not a multiple of 8 (as nft
// does); several are a lookup in an anonymous interval set.
func (c *ruleCompiler) compileAddrs(e Addrs) ([]expr.Any, *anonymousSet, error) {
	if len(e.Prefixes) == 0 {
		return nil, nil, fmt.Errorf("no addresses: %w", ErrInvalid)
	}
	off, n := addrOffset(e.Family, e.Field)
	for _, p := range e.Prefixes {
		if !p.IsValid() || p.Addr().Is4() != (e.Family == IPv4) || p.Addr().Zone() != "" {
			return nil, nil, fmt.Errorf("prefix %s is not an %s prefix: %w", p, e.Family, ErrInvalid)
		}
	}
	if len(e.Prefixes) == 1 {
		p := e.Prefixes[0].Masked()
		addr := p.Addr().AsSlice()
		bits := p.Bits()
		switch {
		case bits == int(n)*8:
			return []expr.Any{loadNetwork(off, n), &expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: addr}}, nil, nil
		case bits > 0 && bits%8 == 0:
			return []expr.Any{loadNetwork(off, uint32(bits/8)), &expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: addr[:bits/8]}}, nil, nil
		default:
			return []expr.Any{
				loadNetwork(off, n),
				&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: n, Mask: prefixMask(bits, int(n)), Xor: make([]byte, n)},
				&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: addr},
			}, nil, nil
		}
	}
	krs := make([]keyRange, len(e.Prefixes))
	for i, p := range e.Prefixes {
		iv := PrefixInterval(p)
		krs[i] = keyRange{lo: iv.First.AsSlice(), hi: iv.Last.AsSlice()}
	}
	dt := nftables.TypeIPAddr
	if e.Family == IPv6 {
		dt = nftables.TypeIP6Addr
	}
	set := c.anonIntervalSet(dt, krs)
	return []expr.Any{
		loadNetwork(off, n),
		&expr.Lookup{SourceRegister: reg1, SetName: set.set.Name, SetID: set.set.ID, Invert: e.Neg},
	}, set, nil
}

// prefixMask returns an n-byte mask with the first bits bits set.
func prefixMask(bits, n int) []byte {
	m := make([]byte, n)
	for i := 0; i < bits; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// compileICMP: the type alone is a one-byte compare; type and code are a
// two-byte compare, or, negated, an inverted lookup in an anonymous set of
// "type . code" (nft has no singleton form for that, and a negated two-byte
// compare would be listed by nft as "type != X code != Y", which means
// something else).
func (c *ruleCompiler) compileICMP(e ICMP) ([]expr.Any, *anonymousSet, error) {
	if !e.HasCode {
		return []expr.Any{loadTransport(0, 1), &expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: []byte{e.Type}}}, nil, nil
	}
	if !e.Neg {
		return []expr.Any{loadTransport(0, 2), &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{e.Type, e.Code}}}, nil, nil
	}
	kt := nftables.MustConcatSetType(nftables.TypeICMPType, nftables.TypeICMPCode)
	if e.V6 {
		kt = nftables.MustConcatSetType(nftables.TypeICMP6Type, nftables.TypeICMPV6Code)
	}
	set := &anonymousSet{
		set:   &nftables.Set{Table: c.table, Name: "__set%d", ID: c.newSetID(), Anonymous: true, Constant: true, KeyType: kt},
		elems: []nftables.SetElement{{Key: []byte{e.Type, 0, 0, 0, e.Code, 0, 0, 0}}},
	}
	return []expr.Any{
		loadTransport(0, 1),
		&expr.Payload{DestRegister: reg1w32, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
		&expr.Lookup{SourceRegister: reg1, SetName: set.set.Name, SetID: set.set.ID, Invert: true},
	}, set, nil
}

// anonIntervalSet builds an anonymous constant interval set holding the
// ranges (merged where they overlap or touch), with nft's elements: a
// leading interval end at zero unless the first range starts there, then a
// start and an end (hi+1) per range, and no end after a range reaching the
// maximum key.
func (c *ruleCompiler) anonIntervalSet(dt nftables.SetDatatype, krs []keyRange) *anonymousSet {
	return &anonymousSet{
		set: &nftables.Set{Table: c.table, Name: "__set%d", ID: c.newSetID(),
			Anonymous: true, Constant: true, Interval: true, KeyType: dt},
		elems: intervalSetElements(krs),
	}
}

// intervalSetElements returns the elements of an interval set holding the
// ranges (at least one), as nft writes them: see anonIntervalSet.
func intervalSetElements(krs []keyRange) []nftables.SetElement {
	krs = mergeRanges(krs)
	var elems []nftables.SetElement
	if !isZeroKey(krs[0].lo) {
		elems = append(elems, nftables.SetElement{Key: make([]byte, len(krs[0].lo)), IntervalEnd: true})
	}
	for _, r := range krs {
		elems = append(elems, nftables.SetElement{Key: r.lo})
		if end, ok := nextKey(r.hi); ok {
			elems = append(elems, nftables.SetElement{Key: end, IntervalEnd: true})
		}
	}
	return elems
}

// portKeyRanges returns port ranges as big-endian key ranges.
func portKeyRanges(rs []PortRange) []keyRange {
	be := binaryutil.BigEndian.PutUint16
	krs := make([]keyRange, len(rs))
	for i, r := range rs {
		krs[i] = keyRange{lo: be(r.First), hi: be(r.Last)}
	}
	return krs
}
