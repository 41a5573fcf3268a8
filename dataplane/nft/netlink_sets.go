package nft

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"

	"github.com/google/nftables"
)

// Interval sets in the kernel (non-concatenated, i.e. rbtree) hold each
// range [First, Last] as two elements: a start element with key First and
// an element flagged NFT_SET_ELEM_INTERVAL_END with key Last+1. A range
// ending at the family's highest address has no Last+1: it is written as a
// start element alone, which the kernel treats as open to the top (that is
// what nft does too; nft additionally marks such elements as "open" in
// their userdata, which only matters for how nft prints them).
//
// Named sets get no leading "interval end at 0" element: the kernels
// untrackd supports do not need it (checked by the kernel tests with
// packets from addresses below a set's lowest range). Anonymous sets get
// it anyway, byte for byte as nft writes them. Reading back tolerates it.

// keyRange is an inclusive range of big-endian keys of one length.
type keyRange struct{ lo, hi []byte }

// mergeRanges sorts the ranges and merges those that overlap or touch.
func mergeRanges(rs []keyRange) []keyRange {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b keyRange) int { return bytes.Compare(a.lo, b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			next, ok := nextKey(last.hi)
			if !ok || bytes.Compare(r.lo, next) <= 0 {
				if bytes.Compare(r.hi, last.hi) > 0 {
					last.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// nextKey returns k+1, or false if k is all ones.
func nextKey(k []byte) ([]byte, bool) {
	n := slices.Clone(k)
	for i := len(n) - 1; i >= 0; i-- {
		n[i]++
		if n[i] != 0 {
			return n, true
		}
	}
	return nil, false
}

func isZeroKey(k []byte) bool {
	for _, b := range k {
		if b != 0 {
			return false
		}
	}
	return true
}

// intervalElements returns the kernel elements of the intervals (see the
// top of this file), in order. It checks each interval: valid addresses of
// the family (IPv4 if v4), First <= Last.
func intervalElements(ivs []Interval, v4 bool) ([]nftables.SetElement, error) {
	elems := make([]nftables.SetElement, 0, 2*len(ivs))
	for _, iv := range ivs {
		if err := checkInterval(iv); err != nil {
			return nil, err
		}
		if iv.First.Is4() != v4 {
			return nil, fmt.Errorf("interval %s-%s: mixed address families: %w", iv.First, iv.Last, ErrInvalid)
		}
		elems = append(elems, nftables.SetElement{Key: iv.First.AsSlice()})
		if end := iv.Last.Next(); end.IsValid() {
			elems = append(elems, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
		}
	}
	return elems, nil
}

func checkInterval(iv Interval) error {
	if !iv.First.IsValid() || !iv.Last.IsValid() || iv.First.Is4() != iv.Last.Is4() ||
		iv.First.Zone() != "" || iv.Last.Zone() != "" || iv.Last.Less(iv.First) {
		return fmt.Errorf("interval %s-%s: %w", iv.First, iv.Last, ErrInvalid)
	}
	return nil
}

// maxElemBytes bounds the encoded element list of one NEWSETELEM or
// DELSETELEM message: the list is a single netlink attribute, whose length
// is 16 bits.
const maxElemBytes = 60000

// chunkIntervals splits intervals into groups whose encoded elements stay
// below maxElemBytes, never separating an interval's start and end.
func chunkIntervals(ivs []Interval) [][]Interval {
	if len(ivs) == 0 {
		return nil
	}
	// An element is at most: list element header 4, key header 4, value
	// header 4 and key, flags attribute 8.
	keyLen := 4
	if !ivs[0].First.Is4() {
		keyLen = 16
	}
	per := maxElemBytes / (2 * (20 + keyLen))
	var chunks [][]Interval
	for len(ivs) > per {
		chunks = append(chunks, ivs[:per:per])
		ivs = ivs[per:]
	}
	return append(chunks, ivs)
}

// chunkElements splits elements (already paired start/end, as made by
// anonIntervalSet) into groups below maxElemBytes, never ending a group
// between a start element and its end element.
func chunkElements(elems []nftables.SetElement) [][]nftables.SetElement {
	var chunks [][]nftables.SetElement
	size, start := 0, 0
	for i, e := range elems {
		size += 20 + len(e.Key)
		if size > maxElemBytes && i > start && !e.IntervalEnd {
			chunks = append(chunks, elems[start:i:i])
			start, size = i, 20+len(e.Key)
		}
	}
	return append(chunks, elems[start:])
}

// elementsToIntervals turns the elements of an interval set, in any order,
// back into the intervals they encode, sorted. It follows the kernel's
// lookup semantics: after sorting (ends before starts at equal keys), a
// start opens an interval that the next end closes (at end-1); a start
// followed by another start, or by nothing, runs up to that start-1 or to
// the top of the address space; ends that close nothing (such as nft's
// leading end at zero) are ignored.
func elementsToIntervals(elems []nftables.SetElement, keyLen int) ([]Interval, error) {
	pts := make([]point, 0, len(elems))
	for _, e := range elems {
		if len(e.Key) != keyLen {
			return nil, fmt.Errorf("set element key of %d bytes, want %d", len(e.Key), keyLen)
		}
		a, _ := netip.AddrFromSlice(e.Key)
		pts = append(pts, point{addr: a, end: e.IntervalEnd})
	}
	return pointsToIntervals(pts), nil
}

func maxAddr(v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	var b [16]byte
	for i := range b {
		b[i] = 0xff
	}
	return netip.AddrFrom16(b)
}

// setKeyType returns the library's key type for a Set of type t.
func setKeyType(t SetType) (nftables.SetDatatype, error) {
	switch t {
	case SetIPv4:
		return nftables.TypeIPAddr, nil
	case SetIPv6:
		return nftables.TypeIP6Addr, nil
	}
	return nftables.SetDatatype{}, fmt.Errorf("set type %q: %w", t, ErrInvalid)
}
