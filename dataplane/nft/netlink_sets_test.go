package nft

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/google/nftables"
)

func TestIntervalElementsRoundTrip(t *testing.T) {
	cases := [][]Interval{
		edge4, edge4Top, edge6, edge6All,
		{nlIv("0.0.0.0", "255.255.255.255")},
		{nlIv("0.0.0.0", "0.0.0.0"), nlIv("0.0.0.1", "0.0.0.1")},
		spacedIntervals(nlAddr("10.0.0.0"), 1000),
	}
	for _, ivs := range cases {
		elems, err := intervalElements(ivs, ivs[0].First.Is4())
		if err != nil {
			t.Fatal(err)
		}
		// The kernel dumps elements in no useful order; add nft's leading
		// end at zero too, which reading must ignore.
		keyLen := len(ivs[0].First.AsSlice())
		elems = append(elems, nftables.SetElement{Key: make([]byte, keyLen), IntervalEnd: true})
		rand.Shuffle(len(elems), func(i, j int) { elems[i], elems[j] = elems[j], elems[i] })
		got, err := elementsToIntervals(elems, keyLen)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, ivs) {
			t.Errorf("round trip of %v gave %v", ivs, got)
		}
	}
}

func TestIntervalElementsLayout(t *testing.T) {
	elems, err := intervalElements([]Interval{nlIv("10.0.0.0", "10.0.0.255"), nlIv("255.255.255.0", "255.255.255.255")}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []nftables.SetElement{
		{Key: []byte{10, 0, 0, 0}}, {Key: []byte{10, 0, 1, 0}, IntervalEnd: true},
		{Key: []byte{255, 255, 255, 0}}, // open to the top: no end element
	}
	if !reflect.DeepEqual(elems, want) {
		t.Errorf("elements %v, want %v", elems, want)
	}
	for _, bad := range [][]Interval{
		{nlIv("10.0.0.5", "10.0.0.1")},
		{nlIv("10.0.0.5", "fd00::1")},
		{nlIv("fd00::1", "fd00::2")}, // IPv6 in an IPv4 operation
		{{}},
	} {
		if _, err := intervalElements(bad, true); !errorsIs(err, ErrInvalid) {
			t.Errorf("%v: error %v, want ErrInvalid", bad, err)
		}
	}
}

func TestElementsToIntervalsKernelSemantics(t *testing.T) {
	k := func(s string, end bool) nftables.SetElement {
		return nftables.SetElement{Key: nlAddr(s).AsSlice(), IntervalEnd: end}
	}
	// A start followed by another start runs up to it; an end with no
	// start before it is ignored.
	got, err := elementsToIntervals([]nftables.SetElement{k("10.0.0.9", false), k("10.0.0.1", false), k("10.0.0.20", true), k("10.0.0.5", true)}, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []Interval{nlIv("10.0.0.1", "10.0.0.4"), nlIv("10.0.0.9", "10.0.0.19")}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := elementsToIntervals([]nftables.SetElement{{Key: []byte{1, 2}}}, 4); err == nil {
		t.Error("short key accepted")
	}
}

func TestMergeRanges(t *testing.T) {
	r := func(lo, hi byte) keyRange { return keyRange{lo: []byte{lo}, hi: []byte{hi}} }
	got := mergeRanges([]keyRange{r(50, 60), r(1, 2), r(3, 3), r(10, 20), r(15, 30), r(200, 255), r(100, 255)})
	want := []keyRange{r(1, 3), r(10, 30), r(50, 60), r(100, 255)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestChunking(t *testing.T) {
	ivs := spacedIntervals(nlAddr("10.0.0.0"), 10_000)
	total := 0
	for _, c := range chunkIntervals(ivs) {
		elems, _ := intervalElements(c, true)
		if size := len(elems) * (20 + 4); size > maxElemBytes {
			t.Errorf("chunk of %d elements, about %d bytes", len(elems), size)
		}
		total += len(c)
	}
	if total != len(ivs) {
		t.Errorf("chunks hold %d intervals, want %d", total, len(ivs))
	}
	comp := &ruleCompiler{}
	var krs []keyRange
	for _, iv := range spacedIntervals(nlAddr("fd00::"), 5000) {
		krs = append(krs, keyRange{lo: iv.First.AsSlice(), hi: iv.Last.AsSlice()})
	}
	set := comp.anonIntervalSet(nftables.TypeIP6Addr, krs)
	var n int
	for _, c := range chunkElements(set.elems) {
		if c[0].IntervalEnd && n > 0 {
			t.Errorf("a chunk starts with an interval end")
		}
		n += len(c)
	}
	if n != len(set.elems) {
		t.Errorf("chunks hold %d elements, want %d", n, len(set.elems))
	}
}
