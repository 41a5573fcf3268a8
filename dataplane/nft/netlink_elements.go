package nft

import (
	"encoding/binary"
	"fmt"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Set elements are encoded here rather than by the library: a cold start
// writes hundreds of thousands of them, and the library builds several
// small allocations per element (attribute slices, nested marshalling),
// which made the encoding of one 300,000-element batch allocate ~300 MB.
// elementMessage writes the bytes the library's SetAddElements and
// SetDeleteElements write for the same elements (pinned by
// TestElementMessageMatchesLibrary) into one buffer.

// elemKey is one set element: its key, and whether it ends an interval.
type elemKey struct {
	key []byte
	end bool
}

// elementMessage returns the NEWSETELEM (add) or DELSETELEM message for
// keys of set in table.
func elementMessage(table, set string, add bool, keys []elemKey) netlink.Message {
	return elementMessageFunc(table, set, add, len(keys), func(i int) ([]byte, bool) { return keys[i].key, keys[i].end })
}

// elementMessageFunc builds the message for n elements whose keys key(i)
// returns (the key may be reused by the next call: it is copied at once),
// sizing the buffer from a first pass over the keys.
func elementMessageFunc(table, set string, add bool, n int, key func(i int) ([]byte, bool)) netlink.Message {
	size := 4 + attrLen(len(set)+1) + attrLen(4) + attrLen(len(table)+1) + 4
	for i := 0; i < n; i++ {
		k, end := key(i)
		size += elemLen(elemKey{key: k, end: end})
	}
	b := make([]byte, 0, size)
	b = append(b, unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0)
	b = appendAttr(b, unix.NFTA_SET_ELEM_LIST_SET, append([]byte(set), 0))
	b = appendAttr(b, unix.NFTA_SET_ELEM_LIST_SET_ID, []byte{0, 0, 0, 0})
	b = appendAttr(b, unix.NFTA_SET_ELEM_LIST_TABLE, append([]byte(table), 0))
	list := len(b)
	b = appendAttrHeader(b, unix.NFTA_SET_ELEM_LIST_ELEMENTS|unix.NLA_F_NESTED, 0)
	for i := 0; i < n; i++ {
		k, end := key(i)
		b = appendAttrHeader(b, uint16(i+1)|unix.NLA_F_NESTED, elemLen(elemKey{key: k, end: end})-4)
		if end {
			b = appendAttr(b, unix.NFTA_SET_ELEM_FLAGS|unix.NLA_F_NESTED, []byte{0, 0, 0, unix.NFT_SET_ELEM_INTERVAL_END})
		}
		b = appendAttrHeader(b, unix.NFTA_SET_ELEM_KEY|unix.NLA_F_NESTED, attrLen(len(k)))
		b = appendAttr(b, unix.NFTA_DATA_VALUE, k)
	}
	binary.NativeEndian.PutUint16(b[list:], uint16(len(b)-list))
	typ := unix.NFT_MSG_DELSETELEM
	if add {
		typ = unix.NFT_MSG_NEWSETELEM
	}
	return netlink.Message{
		Header: netlink.Header{
			Type:  netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ),
			Flags: netlink.Request | netlink.Acknowledge | netlink.Create,
		},
		Data: b,
	}
}

// intervalMessage returns the element message of intervals of one family,
// checked as intervalKeys checks them, without allocating per element.
func intervalMessage(table, set string, add bool, ivs []Interval, v4 bool) (netlink.Message, error) {
	for _, iv := range ivs {
		if err := checkInterval(iv); err != nil {
			return netlink.Message{}, err
		}
		if iv.First.Is4() != v4 {
			return netlink.Message{}, fmt.Errorf("interval %s-%s: mixed address families: %w", iv.First, iv.Last, ErrInvalid)
		}
	}
	// Element i of the message: the start of an interval, or the end
	// (Last+1) of the one before it; the last interval has no end element
	// when it reaches the family's highest address.
	type ref struct {
		iv  int
		end bool
	}
	refs := make([]ref, 0, 2*len(ivs))
	for i, iv := range ivs {
		refs = append(refs, ref{iv: i})
		if iv.Last.Next().IsValid() {
			refs = append(refs, ref{iv: i, end: true})
		}
	}
	var buf [16]byte
	key := func(i int) ([]byte, bool) {
		r := refs[i]
		a := ivs[r.iv].First
		if r.end {
			a = ivs[r.iv].Last.Next()
		}
		if v4 {
			b := a.As4()
			copy(buf[:], b[:])
			return buf[:4], r.end
		}
		buf = a.As16()
		return buf[:], r.end
	}
	return elementMessageFunc(table, set, add, len(refs), key), nil
}

// attrLen is the size of an attribute with n bytes of data, padding
// included.
func attrLen(n int) int { return 4 + (n+3)&^3 }

// elemLen is the size of one element's list entry.
func elemLen(k elemKey) int {
	n := 4 + 4 + attrLen(len(k.key)) // entry header, key header, value
	if k.end {
		n += attrLen(4)
	}
	return n
}

// appendAttrHeader appends an attribute header for n bytes of data to
// follow (n must already include any padding of nested attributes).
func appendAttrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

// appendAttr appends an attribute and its padded data.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = appendAttrHeader(b, typ, len(data))
	b = append(b, data...)
	for pad := attrLen(len(data)) - 4 - len(data); pad > 0; pad-- {
		b = append(b, 0)
	}
	return b
}

// intervalKeys returns the element keys of intervals of one family: a
// start element, and an end element at Last+1 unless Last is the family's
// highest address (an open interval, see the top of netlink_sets.go).
func intervalKeys(ivs []Interval, v4 bool) ([]elemKey, error) {
	keys := make([]elemKey, 0, 2*len(ivs))
	for _, iv := range ivs {
		if err := checkInterval(iv); err != nil {
			return nil, err
		}
		if iv.First.Is4() != v4 {
			return nil, fmt.Errorf("interval %s-%s: mixed address families: %w", iv.First, iv.Last, ErrInvalid)
		}
		keys = append(keys, elemKey{key: iv.First.AsSlice()})
		if end := iv.Last.Next(); end.IsValid() {
			keys = append(keys, elemKey{key: end.AsSlice(), end: true})
		}
	}
	return keys, nil
}

// tupleKeys returns the element keys of address-protocol-port elements of
// one family.
func tupleKeys(els []AddrPort, v4 bool) ([]elemKey, error) {
	keys := make([]elemKey, 0, len(els))
	for _, e := range els {
		if e.Addr.Is4() != v4 {
			return nil, fmt.Errorf("element %s: mixed address families: %w", e, ErrInvalid)
		}
		k, err := tupleKey(e, v4)
		if err != nil {
			return nil, err
		}
		keys = append(keys, elemKey{key: k})
	}
	return keys, nil
}
