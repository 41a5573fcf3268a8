package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/calc/reference"
	"github.com/untrackd/untrackd/dataplane/nft"
)

var traceSeed = flag.Uint64("traceseed", 1, "seed of the tracer differential test")

// traceVerdict runs p through the fake kernel's table along the hooks the
// kernel would take it through, and says what happened.
func traceVerdict(f *nft.Fake, p reference.Packet) (reference.Verdict, nft.TraceResult) {
	ct := map[reference.ConntrackState]nft.CTState{
		reference.CTNew: nft.CTNew, reference.CTInvalid: nft.CTInvalid, reference.CTUntracked: nft.CTUntracked,
	}[reference.FirstPacketState(p)]
	np := nft.Packet{IIF: p.InIface, OIF: p.OutIface, Src: p.Src, Dst: p.Dst, Proto: p.Proto,
		SrcPort: p.SrcPort, DstPort: p.DstPort, ICMPType: p.ICMPType, ICMPCode: p.ICMPCode, CTState: ct}
	var hooks []nft.Hook
	switch p.Direction {
	case reference.Ingress:
		hooks = []nft.Hook{nft.HookPrerouting, nft.HookInput}
	case reference.Egress:
		hooks = []nft.Hook{nft.HookOutput, nft.HookPostrouting}
	case reference.Forward:
		hooks = []nft.Hook{nft.HookPrerouting, nft.HookForward, nft.HookPostrouting}
	}
	res := f.TraceHooks(np, hooks...)
	switch {
	case res.Verdict == nft.Drop:
		return reference.Deny, res
	case res.CTState == nft.CTUntracked:
		return reference.AllowUntracked, res
	}
	return reference.Allow, res
}

// TestDifferentialTracer renders random policy states through calc and the
// dataplane into the fake kernel, traces random first packets through the
// rendered rules, and checks that every verdict is the reference
// evaluator's, which works from the resources and the documented
// semantics alone.
func TestDifferentialTracer(t *testing.T) {
	models, packets := 400, 60
	if testing.Short() {
		models = 50
	}
	r := rand.New(rand.NewPCG(*traceSeed, 0xd1ff))
	counts := map[reference.Verdict]int{}
	disagree, ran := 0, 0
	for i := 0; i < models; i++ {
		m := reference.Generate(r)
		f := renderResources(t, m.Resources(), m.Interfaces)
		for j := 0; j < packets; j++ {
			p := reference.GeneratePacket(r)
			ran++
			want := m.Evaluate(p)
			got, res := traceVerdict(f, p)
			counts[want.Verdict]++
			if got == want.Verdict {
				continue
			}
			disagree++
			if disagree <= 3 {
				t.Errorf("model %d packet %d: %v\n kernel (fake) %v via %v\n reference %v\n resources:\n%s\n table:\n%s",
					i, j, p, got, res.Path, want, dumpModel(m), f.Dump())
			}
		}
	}
	t.Logf("differential (tracer, seed %d): %d models, %d packets (%d allow, %d allow-untracked, %d deny), %d disagreements",
		*traceSeed, models, ran, counts[reference.Allow], counts[reference.AllowUntracked], counts[reference.Deny], disagree)
}

func dumpModel(m *reference.Model) string {
	var b strings.Builder
	for _, r := range m.Resources() {
		y, _ := yaml.Marshal(r)
		fmt.Fprintf(&b, "---\n%s", y)
	}
	return b.String()
}
