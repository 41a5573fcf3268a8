// Benchmarks for the hot path (Evaluate) and for Parse.

package selector

import (
	"fmt"
	"strings"
	"testing"
)

var benchSelectors = map[string]string{
	"eq":      `app == "web"`,
	"typical": `app == "web" && env in {"prod", "staging"} && !has(quarantine) || role starts with "db-"`,
	"complex": `(a == "1" || b != "2") && c in {"1","2","3","4","5","6","7","8","9","10"} && ` +
		`d not in {"x"} && e contains "q" && !has(f) && g starts with "p" && h ends with "s"`,
	"bigset": bigSetSelector(1000),
}

func bigSetSelector(n int) string {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprintf(`"value-%d"`, i)
	}
	return `k in {` + strings.Join(vals, ", ") + `}`
}

var benchLabels Labels = Map{
	"app": "web", "env": "staging", "role": "db-primary", "k": "value-999",
	"a": "1", "c": "5", "e": "aqa", "g": "pp", "h": "ss",
	"kubernetes.io/hostname": "node-1", "projectcalico.org/namespace": "default",
}

var benchSink bool

func BenchmarkEvaluate(b *testing.B) {
	for _, name := range []string{"eq", "typical", "complex", "bigset"} {
		sel := MustParse(benchSelectors[name])
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSink = sel.Evaluate(benchLabels)
			}
		})
	}
}

var benchSelectorSink *Selector

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"eq", "typical", "complex", "bigset"} {
		text := benchSelectors[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				benchSelectorSink = MustParse(text)
			}
		})
	}
}
