package nft

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Address-protocol-port ("named port") sets, encoded as nft 1.0.6 encodes
//
//	set s { type ipv4_addr . inet_proto . inet_service; }
//	ip daddr . meta l4proto . th dport @s
//
// (checked with `nft --debug=netlink,mnl` and pinned by the kernel tests):
//
//   - the set is a plain hash set (no flags at all: NFT_SET_CONCAT only goes
//     with interval sets) whose key type is the concatenation of ipv4_addr
//     (or ipv6_addr), inet_proto and inet_service, and whose key is 12 (24)
//     bytes: each field padded with zeros to a multiple of 4 bytes, as
//     fields of a concatenation sit in consecutive 32-bit registers;
//   - its userdata is nft's: key byte order 0 (a concatenation has none),
//     then a "typeof" description of the key saying it is a concatenation
//     (so `nft list` prints the type), then the comment;
//   - a rule loads the address into register 1 and the protocol and the
//     port into the next 32-bit registers (named as nft names them: the
//     128-bit name where one exists), then looks the register span up.

// Key types and lengths of the address-protocol-port sets.
var (
	tupleKeyType4 = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	tupleKeyType6 = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
)

// exprConcat is nft's enum expr_types value EXPR_CONCAT, which nft records
// in a concatenated set's "typeof" userdata.
const exprConcat = 13

// maxUserdata is the kernel's NFT_USERDATA_MAXLEN.
const maxUserdata = 256

// nftTypeofData is NFTNL_UDATA_SET_TYPEOF_DATA, the (here empty) nest nft
// writes after the expression type in a set's "typeof" userdata.
const nftTypeofData = 1

// tupleKeyLen returns the key length of an address-protocol-port set of
// the family: the address, then the protocol and the port each padded to
// four bytes.
func tupleKeyLen(v4 bool) int {
	if v4 {
		return 4 + 4 + 4
	}
	return 16 + 4 + 4
}

// tupleSetUserdata returns the set userdata nft writes for a set declared
// with a concatenated type: key byte order 0, the key's typeof nest
// (expression type concat, then an empty data nest), and the comment.
func tupleSetUserdata(comment string) []byte {
	ud := binary.NativeEndian.AppendUint32(nil, 0)
	ud = userdata.Append(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, ud)
	typeof := userdata.Append(nil, 0, binary.NativeEndian.AppendUint32(nil, exprConcat)) // NFTNL_UDATA_SET_TYPEOF_EXPR
	typeof = userdata.Append(typeof, nftTypeofData, nil)
	ud = userdata.Append(ud, userdata.NFTNL_UDATA_SET_KEY_TYPEOF, typeof)
	if comment != "" {
		ud = userdata.AppendString(ud, userdata.NFTNL_UDATA_SET_COMMENT, comment)
	}
	return ud
}

// tupleSetMessage returns the NEWSET message creating an
// address-protocol-port set (the library's AddSet cannot write nft's
// userdata for it).
func tupleSetMessage(table *nftables.Table, s *Set, id uint32) (netlink.Message, error) {
	if s.Name == "" {
		return netlink.Message{}, fmt.Errorf("empty set name: %w", ErrInvalid)
	}
	ud := tupleSetUserdata(s.Comment)
	if len(s.Comment) >= 255 || len(ud) > maxUserdata {
		return netlink.Message{}, fmt.Errorf("set comment of %d bytes: %w", len(s.Comment), ErrInvalid)
	}
	kt := tupleKeyType4
	if s.Type == SetIPv6ProtoPort {
		kt = tupleKeyType6
	}
	be := binaryutil.BigEndian.PutUint32
	attrs, err := netlink.MarshalAttributes([]netlink.Attribute{
		{Type: unix.NFTA_SET_TABLE, Data: []byte(table.Name + "\x00")},
		{Type: unix.NFTA_SET_NAME, Data: []byte(s.Name + "\x00")},
		{Type: unix.NFTA_SET_FLAGS, Data: be(0)},
		{Type: unix.NFTA_SET_KEY_TYPE, Data: be(kt.GetNFTMagic())},
		{Type: unix.NFTA_SET_KEY_LEN, Data: be(kt.Bytes)},
		{Type: unix.NFTA_SET_ID, Data: be(id)},
		{Type: unix.NFTA_SET_USERDATA, Data: ud},
	})
	if err != nil {
		return netlink.Message{}, fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSET),
			Flags: netlink.Request | netlink.Create,
		},
		Data: append(genmsg(uint8(table.Family), 0), attrs...),
	}, nil
}

// tupleKey returns the set key of an element: the address, the protocol
// and three zero bytes, the port (big-endian) and two zero bytes.
func tupleKey(e AddrPort, v4 bool) ([]byte, error) {
	if !e.Addr.IsValid() || e.Addr.Zone() != "" || e.Addr.Is4() != v4 {
		return nil, fmt.Errorf("element %s: mixed address families or a bad address: %w", e, ErrInvalid)
	}
	k := make([]byte, 0, tupleKeyLen(v4))
	k = append(k, e.Addr.AsSlice()...)
	k = append(k, e.Proto, 0, 0, 0)
	k = binary.BigEndian.AppendUint16(k, e.Port)
	return append(k, 0, 0), nil
}

// tupleFromKey decodes a set key written by tupleKey (or by nft).
func tupleFromKey(k []byte, v4 bool) (AddrPort, error) {
	n := 4
	if !v4 {
		n = 16
	}
	if len(k) != tupleKeyLen(v4) {
		return AddrPort{}, fmt.Errorf("set element key of %d bytes, want %d", len(k), tupleKeyLen(v4))
	}
	if !isZeroKey(k[n+1:n+4]) || !isZeroKey(k[n+6:]) {
		return AddrPort{}, fmt.Errorf("set element key %x has non-zero padding", k)
	}
	a, _ := netip.AddrFromSlice(k[:n])
	return AddrPort{Addr: a, Proto: k[n], Port: binary.BigEndian.Uint16(k[n+4 : n+6])}, nil
}

// tupleElements returns the kernel elements of tuples, which must all be
// of one family.
func tupleElements(els []AddrPort) ([]nftables.SetElement, error) {
	v4 := els[0].Addr.Is4()
	out := make([]nftables.SetElement, len(els))
	for i, e := range els {
		k, err := tupleKey(e, v4)
		if err != nil {
			return nil, err
		}
		out[i] = nftables.SetElement{Key: k}
	}
	return out, nil
}

// chunkTuples splits elements into groups whose encoded element lists stay
// below maxElemBytes.
func chunkTuples(els []AddrPort) [][]AddrPort {
	if len(els) == 0 {
		return nil
	}
	// An element is: list element header 4, key header 4, value header 4
	// and the key; 8 bytes spare.
	per := maxElemBytes / (20 + tupleKeyLen(els[0].Addr.Is4()))
	var chunks [][]AddrPort
	for len(els) > per {
		chunks = append(chunks, els[:per:per])
		els = els[per:]
	}
	return append(chunks, els)
}

// tuplesFromElements reads the elements of an address-protocol-port set,
// sorted.
func tuplesFromElements(elems []nftables.SetElement, v4 bool) ([]AddrPort, error) {
	out := make([]AddrPort, 0, len(elems))
	for _, e := range elems {
		t, err := tupleFromKey(e.Key, v4)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	slices.SortFunc(out, AddrPort.Compare)
	return out, nil
}

// tupleRegisters returns the registers nft uses for the protocol and the
// port after an address of the family in register 1: the next 32-bit
// registers, by their 128-bit name when they start one (as nft's
// netlink_put_register names them).
func tupleRegisters(f Family) (proto, port uint32) {
	if f == IPv6 {
		return unix.NFT_REG_2, unix.NFT_REG32_05 // words 4 and 5
	}
	return unix.NFT_REG32_01, unix.NFT_REG32_02 // words 1 and 2
}

// compileAddrPortInSet: the address, meta l4proto and the transport port
// into consecutive registers, then a lookup of the whole key.
func compileAddrPortInSet(e AddrPortInSet) ([]expr.Any, error) {
	if e.Set == "" {
		return nil, fmt.Errorf("empty set name: %w", ErrInvalid)
	}
	if _, err := nfproto(e.Family); err != nil {
		return nil, err
	}
	off, n := addrOffset(e.Family, e.Field)
	portOff := uint32(2)
	if e.Field == SrcAddr {
		portOff = 0
	}
	protoReg, portReg := tupleRegisters(e.Family)
	return []expr.Any{
		loadNetwork(off, n),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: protoReg},
		&expr.Payload{DestRegister: portReg, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: e.Set, Invert: e.Neg},
	}, nil
}
