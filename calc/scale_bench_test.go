package calc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/untrackd/untrackd/model"
)

// scaleState is a datastore of the size the control-plane benchmark
// targets: 10,000 host endpoints (a few on this node), 2,000 policies of
// mixed kinds with realistic selectors, and network sets totalling 100,000
// CIDRs.
func scaleState(r *rand.Rand) []KV {
	var kvs []KV
	apps := 200
	for i := 0; i < 10000; i++ {
		node := fmt.Sprintf("node-%d", i%2000)
		if i < 4 {
			node = testNode
		}
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		h := &model.HostEndpoint{Metadata: model.ObjectMeta{Name: fmt.Sprintf("hep-%d", i),
			Labels: map[string]string{"app": fmt.Sprintf("app-%d", i%apps), "env": []string{"prod", "dev"}[i%2], "rack": fmt.Sprintf("r%d", i%40)}},
			Spec: model.HostEndpointSpec{Node: node, InterfaceName: "eth0", ExpectedIPs: []string{a.String()}}}
		kvs = append(kvs, KV{Key: model.Key{Kind: model.KindHostEndpoint, Name: h.Metadata.Name}, Value: h})
	}
	for i := 0; i < 2000; i++ {
		p := &model.GlobalNetworkPolicy{Metadata: model.ObjectMeta{Name: fmt.Sprintf("pol-%d", i)}}
		o := float64(i % 100)
		p.Spec.Order = &o
		p.Spec.Selector = fmt.Sprintf("app == 'app-%d'", r.IntN(apps))
		if i%10 == 0 {
			p.Spec.Selector = "env == 'prod'"
		}
		if i%3 == 0 {
			p.Spec.DoNotTrack, p.Spec.ApplyOnForward = true, true
		}
		proto := model.ProtocolFromName("TCP")
		p.Spec.Ingress = []model.Rule{{Action: model.Allow, Protocol: proto,
			Source:      model.EntityRule{Selector: fmt.Sprintf("app == 'app-%d' && env == 'prod'", r.IntN(apps))},
			Destination: model.EntityRule{Ports: []model.Port{model.SinglePort(uint16(1000 + i))}}}}
		p.Spec.Egress = []model.Rule{{Action: model.Allow, Protocol: proto,
			Destination: model.EntityRule{Selector: fmt.Sprintf("blocklist == 'b%d'", i%20)}}}
		kvs = append(kvs, KV{Key: model.Key{Kind: model.KindGlobalNetworkPolicy, Name: p.Metadata.Name}, Value: p})
	}
	for i := 0; i < 20; i++ {
		s := &model.GlobalNetworkSet{Metadata: model.ObjectMeta{Name: fmt.Sprintf("set-%d", i), Labels: map[string]string{"blocklist": fmt.Sprintf("b%d", i)}}}
		for j := 0; j < 5000; j++ {
			s.Spec.Nets = append(s.Spec.Nets, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(100 + i), byte(j >> 8), byte(j), 0}), 24).String())
		}
		kvs = append(kvs, KV{Key: model.Key{Kind: model.KindGlobalNetworkSet, Name: s.Metadata.Name}, Value: s})
	}
	return kvs
}

// BenchmarkColdStart measures the graph's work for a full start-of-day
// listing of scaleState, up to the flushed output.
func BenchmarkColdStart(b *testing.B) {
	kvs := scaleState(rand.New(rand.NewPCG(1, 1)))
	b.ReportAllocs()
	for b.Loop() {
		g := NewGraph(testNode, nil)
		g.Apply(Input{Updates: kvs, InSync: true})
		out := g.Sequencer().Flush()
		b.ReportMetric(float64(len(out)), "messages")
	}
}

// BenchmarkLabelChange measures one label change on a remote endpoint that
// moves it between IP sets, after a cold start.
func BenchmarkLabelChange(b *testing.B) {
	kvs := scaleState(rand.New(rand.NewPCG(1, 1)))
	g := NewGraph(testNode, nil)
	g.Apply(Input{Updates: kvs, InSync: true})
	g.Sequencer().Flush()
	h := kvs[100].Value.(*model.HostEndpoint)
	i := 0
	for b.Loop() {
		c := *h
		c.Metadata.Labels = map[string]string{"app": fmt.Sprintf("app-%d", i%200), "env": "prod"}
		i++
		g.Apply(Input{Updates: []KV{{Key: kvs[100].Key, Value: &c}}, InSync: true})
		g.Sequencer().Flush()
	}
}
