package nft

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// queuePortSet queues the creation of a port set with its content: a named
// constant interval set of inet_service, its elements in the same
// transaction (they cannot be added once a rule uses the set).
func queuePortSet(conn *nftables.Conn, t *nftables.Table, s *Set, id uint32) error {
	if len(s.Ports) == 0 {
		return fmt.Errorf("port set %s without ports: %w", s.Name, ErrInvalid)
	}
	for _, r := range s.Ports {
		if r.Last < r.First {
			return fmt.Errorf("port set %s: range %s: %w", s.Name, r, ErrInvalid)
		}
	}
	return conn.AddSet(&nftables.Set{Table: t, Name: s.Name, ID: id, Constant: true, Interval: true,
		KeyType: nftables.TypeInetService, Comment: s.Comment}, intervalSetElements(portKeyRanges(s.Ports)))
}

// elementsToPortRanges reads the elements of a port set (two-byte keys,
// interval starts and ends, in any order) as sorted ranges.
func elementsToPortRanges(elems []nftables.SetElement) ([]PortRange, error) {
	type point struct {
		port uint32
		end  bool
	}
	pts := make([]point, 0, len(elems))
	for _, e := range elems {
		if len(e.Key) != 2 {
			return nil, fmt.Errorf("port set element key of %d bytes, want 2", len(e.Key))
		}
		pts = append(pts, point{port: uint32(e.Key[0])<<8 | uint32(e.Key[1]), end: e.IntervalEnd})
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.port != b.port:
			return int(a.port) - int(b.port)
		case a.end == b.end:
			return 0
		case a.end:
			return -1
		}
		return 1
	})
	var out []PortRange
	open := -1
	for _, p := range pts {
		if open >= 0 {
			out = append(out, PortRange{First: uint16(open), Last: uint16(p.port - 1)})
			open = -1
		}
		if !p.end {
			open = int(p.port)
		}
	}
	if open >= 0 {
		out = append(out, PortRange{First: uint16(open), Last: 65535})
	}
	return out, nil
}
