package nft

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/google/nftables"
)

// TestElementMessageMatchesLibrary pins the hand-written element encoding
// to the library's, byte for byte, for interval and tuple elements, adds
// and deletes, IPv4 and IPv6, with and without an open last interval.
func TestElementMessageMatchesLibrary(t *testing.T) {
	ivs4 := []Interval{
		PrefixInterval(netip.MustParsePrefix("10.0.0.0/8")),
		{First: netip.MustParseAddr("192.168.0.1"), Last: netip.MustParseAddr("192.168.0.9")},
		PrefixInterval(netip.MustParsePrefix("240.0.0.0/4")), // ends at the highest address
	}
	ivs6 := []Interval{PrefixInterval(netip.MustParsePrefix("fd00::/8")), PrefixInterval(netip.MustParsePrefix("2001:db8::1/128"))}
	tuples := []AddrPort{{Addr: netip.MustParseAddr("10.0.0.1"), Proto: 6, Port: 80}, {Addr: netip.MustParseAddr("10.0.0.2"), Proto: 17, Port: 53}}
	table := &nftables.Table{Name: TableName, Family: nftables.TableFamilyINet}
	for _, add := range []bool{true, false} {
		for name, c := range map[string]struct {
			lib  func() ([]nftables.SetElement, error)
			mine func() ([]elemKey, error)
		}{
			"ipv4":   {func() ([]nftables.SetElement, error) { return intervalElements(ivs4, true) }, func() ([]elemKey, error) { return intervalKeys(ivs4, true) }},
			"ipv6":   {func() ([]nftables.SetElement, error) { return intervalElements(ivs6, false) }, func() ([]elemKey, error) { return intervalKeys(ivs6, false) }},
			"tuples": {func() ([]nftables.SetElement, error) { return tupleElements(tuples) }, func() ([]elemKey, error) { return tupleKeys(tuples, true) }},
		} {
			rec, err := newRecorder()
			if err != nil {
				t.Fatal(err)
			}
			els, err := c.lib()
			if err != nil {
				t.Fatal(err)
			}
			set := &nftables.Set{Table: table, Name: "s4-abc"}
			if add {
				err = rec.conn.SetAddElements(set, els)
			} else {
				err = rec.conn.SetDeleteElements(set, els)
			}
			if err != nil {
				t.Fatal(err)
			}
			want, err := rec.take()
			if err != nil || len(want) != 1 {
				t.Fatalf("library messages %v, %v", want, err)
			}
			keys, err := c.mine()
			if err != nil {
				t.Fatal(err)
			}
			got := elementMessage(TableName, "s4-abc", add, keys)
			if name != "tuples" {
				ivs := ivs4
				if name == "ipv6" {
					ivs = ivs6
				}
				direct, err := intervalMessage(TableName, "s4-abc", add, ivs, name == "ipv4")
				if err != nil || !bytes.Equal(direct.Data, got.Data) {
					t.Errorf("%s add=%v: intervalMessage differs from elementMessage (%v)", name, add, err)
				}
			}
			if got.Header.Type != want[0].Header.Type || got.Header.Flags != want[0].Header.Flags {
				t.Errorf("%s add=%v: header %+v, library %+v", name, add, got.Header, want[0].Header)
			}
			if !bytes.Equal(got.Data, want[0].Data) {
				t.Errorf("%s add=%v: payload differs from the library's:\n got %x\nwant %x", name, add, got.Data, want[0].Data)
			}
		}
	}
}
