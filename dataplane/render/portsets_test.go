package render

import (
	"slices"
	"testing"

	"github.com/untrackd/untrackd/dataplane/nft"
)

func TestPortMatch(t *testing.T) {
	pr := func(a, b uint16) nft.PortRange { return nft.PortRange{First: a, Last: b} }
	cases := []struct {
		name    string
		in      []nft.PortRange
		want    []nft.PortRange
		wantSet bool
	}{
		{"one port", []nft.PortRange{pr(22, 22)}, []nft.PortRange{pr(22, 22)}, false},
		{"one range", []nft.PortRange{pr(1000, 2000)}, []nft.PortRange{pr(1000, 2000)}, false},
		{"sorted", []nft.PortRange{pr(443, 443), pr(80, 80)}, []nft.PortRange{pr(80, 80), pr(443, 443)}, true},
		{"adjacent merge into one range", []nft.PortRange{pr(81, 81), pr(80, 80)}, []nft.PortRange{pr(80, 81)}, false},
		{"overlapping and duplicate", []nft.PortRange{pr(10, 20), pr(15, 30), pr(10, 20), pr(40, 40)}, []nft.PortRange{pr(10, 30), pr(40, 40)}, true},
		{"contained", []nft.PortRange{pr(1, 65535), pr(22, 22), pr(80, 90)}, []nft.PortRange{pr(1, 65535)}, false},
		{"up to the last port", []nft.PortRange{pr(65535, 65535), pr(65534, 65534), pr(1, 1)}, []nft.PortRange{pr(1, 1), pr(65534, 65535)}, true},
	}
	for _, c := range cases {
		in := slices.Clone(c.in)
		p := portMatch(nft.DstPort, c.in, true)
		if !slices.Equal(p.Ranges, c.want) || (p.Set != "") != c.wantSet || !p.Neg {
			t.Errorf("%s: got %+v, want ranges %v, set %v", c.name, p, c.want, c.wantSet)
		}
		if !slices.Equal(c.in, in) {
			t.Errorf("%s: input changed to %v", c.name, c.in)
		}
		if c.wantSet && p.Set != PortSetName(c.want) {
			t.Errorf("%s: set %s, want %s", c.name, p.Set, PortSetName(c.want))
		}
	}
	a, b := PortSetName([]nft.PortRange{pr(80, 80), pr(443, 443)}), PortSetName([]nft.PortRange{pr(80, 80), pr(444, 444)})
	if a == b || len(a) > 32 {
		t.Errorf("names %q and %q: want distinct and short", a, b)
	}
}
