package nft

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// This file compiles untrackd's Exprs to kernel expressions the way the nft
// tool (1.0.x) encodes the same rule text, so `nft list ruleset` prints them
// back as the rule's String() (modulo nft's own shorthands, such as
// "tcp dport" for "meta l4proto tcp th dport"). The encodings were taken
// from `nft --debug=netlink` and are pinned by netlink_compile_test.go and,
// against the real nft, by the kernel tests.

// Registers, as nft allocates them: the 16-byte register 1, and its second
// 32-bit word for the second part of a concatenation.
const (
	reg1    = unix.NFT_REG_1
	reg1w32 = unix.NFT_REG32_01
)

// ifNameSize is IFNAMSIZ: interface names are compared as 16 NUL-padded bytes.
const ifNameSize = 16

// maxLogPrefix is the kernel's limit on a log prefix (NF_LOG_PREFIXLEN
// including the NUL).
const maxLogPrefix = 127

// anonymousSet is an anonymous constant set a rule looks up; it is created in
// the same batch, just before the rule.
type anonymousSet struct {
	set   *nftables.Set
	elems []nftables.SetElement
}

// ruleCompiler compiles the rules of one transaction. It hands out the
// batch-local set IDs that tie a lookup to the anonymous set it creates.
// Not safe for concurrent use.
type ruleCompiler struct {
	table  *nftables.Table
	lastID uint32
}

func (c *ruleCompiler) newSetID() uint32 {
	c.lastID++
	return c.lastID
}

// compile returns the kernel expressions of r and the anonymous sets they
// use. It fails with ErrInvalid for expressions the kernel would misread or
// reject: ports or ICMP fields without a preceding protocol match, addresses
// without a preceding family match, bad names and empty matches.
func (c *ruleCompiler) compile(r Rule) ([]expr.Any, []anonymousSet, error) {
	var out []expr.Any
	var sets []anonymousSet
	if err := CheckRule(r); err != nil {
		return nil, nil, err
	}
	for i, e := range r.Exprs {
		exprs, set, err := c.compileExpr(e)
		if err != nil {
			return nil, nil, fmt.Errorf("expression %d (%s): %w", i, exprString(e), err)
		}
		out = append(out, exprs...)
		if set != nil {
			sets = append(sets, *set)
		}
	}
	return out, sets, nil
}

func exprString(e Expr) string {
	if e == nil {
		return "<nil>"
	}
	return e.String()
}

func (c *ruleCompiler) compileExpr(e Expr) ([]expr.Any, *anonymousSet, error) {
	switch e := e.(type) {
	case IfName:
		return compileIfName(e)
	case NFProto:
		p, err := nfproto(e.Family)
		if err != nil {
			return nil, nil, err
		}
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
		}, nil, nil
	case L4Proto:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: []byte{e.Proto}},
		}, nil, nil
	case Ports:
		return c.compilePorts(e)
	case Addrs:
		return c.compileAddrs(e)
	case AddrInSet:
		if e.Set == "" {
			return nil, nil, fmt.Errorf("empty set name: %w", ErrInvalid)
		}
		off, n := addrOffset(e.Family, e.Field)
		return []expr.Any{
			loadNetwork(off, n),
			&expr.Lookup{SourceRegister: reg1, SetName: e.Set, Invert: e.Neg},
		}, nil, nil
	case AddrPortInSet:
		exprs, err := compileAddrPortInSet(e)
		return exprs, nil, err
	case Mark:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
			hostBitwise(e.Mask, 0),
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(e.Value)},
		}, nil, nil
	case CTStateIn:
		if e.States == 0 {
			return nil, nil, fmt.Errorf("no conntrack state: %w", ErrInvalid)
		}
		return []expr.Any{
			&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
			hostBitwise(uint32(e.States), 0),
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		}, nil, nil
	case ICMP:
		return c.compileICMP(e)
	case Counter:
		return []expr.Any{&expr.Counter{}}, nil, nil
	case Log:
		if len(e.Prefix) > maxLogPrefix {
			return nil, nil, fmt.Errorf("log prefix longer than %d bytes: %w", maxLogPrefix, ErrInvalid)
		}
		l := &expr.Log{}
		if e.Prefix != "" {
			l.Key = 1 << unix.NFTA_LOG_PREFIX
			l.Data = []byte(e.Prefix)
		}
		return []expr.Any{l}, nil, nil
	case SetMarkBits:
		return setMark(^e.Bits, e.Bits), nil, nil
	case ClearMarkBits:
		return setMark(^e.Bits, 0), nil, nil
	case Notrack:
		return []expr.Any{&expr.Notrack{}}, nil, nil
	case Verdict:
		v, err := compileVerdict(e)
		if err != nil {
			return nil, nil, err
		}
		return []expr.Any{v}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown expression type %T: %w", e, ErrInvalid)
}

func cmpOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func nfproto(f Family) (byte, error) {
	switch f {
	case IPv4:
		return unix.NFPROTO_IPV4, nil
	case IPv6:
		return unix.NFPROTO_IPV6, nil
	}
	return 0, fmt.Errorf("family %d: %w", f, ErrInvalid)
}

func compileIfName(e IfName) ([]expr.Any, *anonymousSet, error) {
	if e.Name == "" || len(e.Name) >= ifNameSize || slices.Contains([]byte(e.Name), 0) {
		return nil, nil, fmt.Errorf("interface name %q: %w", e.Name, ErrInvalid)
	}
	key := expr.MetaKeyIIFNAME
	if e.Out {
		key = expr.MetaKeyOIFNAME
	}
	name := make([]byte, ifNameSize)
	copy(name, e.Name)
	return []expr.Any{
		&expr.Meta{Key: key, Register: reg1},
		&expr.Cmp{Op: cmpOp(e.Neg), Register: reg1, Data: name},
	}, nil, nil
}

// hostBitwise is reg1 = (reg1 & mask) ^ xor on a 32-bit host-order value
// (the mark and the conntrack state are host-order).
func hostBitwise(mask, xor uint32) *expr.Bitwise {
	return &expr.Bitwise{
		SourceRegister: reg1, DestRegister: reg1, Len: 4,
		Mask: binaryutil.NativeEndian.PutUint32(mask),
		Xor:  binaryutil.NativeEndian.PutUint32(xor),
	}
}

// setMark is meta mark set (meta mark & mask) ^ xor.
func setMark(mask, xor uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: reg1},
		hostBitwise(mask, xor),
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: reg1},
	}
}

func compileVerdict(e Verdict) (*expr.Verdict, error) {
	switch e.Kind {
	case Accept:
		return &expr.Verdict{Kind: expr.VerdictAccept}, nil
	case Drop:
		return &expr.Verdict{Kind: expr.VerdictDrop}, nil
	case Return:
		return &expr.Verdict{Kind: expr.VerdictReturn}, nil
	case Jump, Goto:
		if e.Chain == "" {
			return nil, fmt.Errorf("%s without a chain: %w", e, ErrInvalid)
		}
		k := expr.VerdictJump
		if e.Kind == Goto {
			k = expr.VerdictGoto
		}
		return &expr.Verdict{Kind: k, Chain: e.Chain}, nil
	}
	return nil, fmt.Errorf("verdict kind %d: %w", e.Kind, ErrInvalid)
}
