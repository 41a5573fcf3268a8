package bench

import (
	"math"
	"slices"
	"time"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of sorted durations, by the
// nearest-rank method (0 when empty).
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Histogram counts values (in ms) in consecutive bins: Counts[i] counts
// values in [Bounds[i], Bounds[i+1]); the first and last bins also take
// what falls below and above.
type Histogram struct {
	Bounds []float64 `json:"bounds_ms"`
	Counts []int64   `json:"counts"`
}

// LogHistogram bins durations logarithmically from lo to hi ms with
// perDecade bins per factor of ten.
func LogHistogram(ds []time.Duration, lo, hi float64, perDecade int) Histogram {
	n := int(math.Ceil(math.Log10(hi/lo) * float64(perDecade)))
	h := Histogram{Bounds: make([]float64, n+1), Counts: make([]int64, n)}
	for i := range h.Bounds {
		h.Bounds[i] = lo * math.Pow(10, float64(i)/float64(perDecade))
	}
	for _, d := range ds {
		ms := d.Seconds() * 1000
		i := 0
		if ms > lo {
			i = int(math.Log10(ms/lo) * float64(perDecade))
		}
		h.Counts[max(0, min(i, n-1))]++
	}
	return h
}

// Add adds o's counts to h (same bounds).
func (h *Histogram) Add(o Histogram) {
	if len(h.Counts) == 0 {
		h.Bounds = slices.Clone(o.Bounds)
		h.Counts = make([]int64, len(o.Counts))
	}
	for i := range o.Counts {
		if i < len(h.Counts) {
			h.Counts[i] += o.Counts[i]
		}
	}
}

// Spread summarises repeated measurements of one figure.
type Spread struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

// SpreadOf returns the median, minimum and maximum of xs.
func SpreadOf(xs []float64) Spread {
	if len(xs) == 0 {
		return Spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Spread{Median: med, Min: s[0], Max: s[len(s)-1], Runs: slices.Clone(xs)}
}
