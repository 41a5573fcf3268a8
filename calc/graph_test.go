package calc

import (
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/model/selector"
	"github.com/untrackd/untrackd/proto"
)

// harness drives a Graph through a sequence of datastore states and keeps
// the dataplane model its output builds.
type harness struct {
	t     *testing.T
	g     *Graph
	dp    *dpState
	cur   map[model.Key]string
	rng   *rand.Rand
	names map[string]string
}

func newHarness(t *testing.T, seed int64) *harness {
	return &harness{t: t, g: NewGraph(testNode, nil), dp: newDPState(), cur: map[model.Key]string{},
		rng: rand.New(rand.NewSource(seed)), names: selectorNames()}
}

// selectorNames maps IP set ids to the canonical text of every selector the
// test states use, so summaries are readable.
func selectorNames() map[string]string {
	m := map[string]string{}
	for _, s := range []string{`memcached == "client"`, `role == "app"`, `all()`, `zone == "mgmt"`, `role == "cache"`} {
		sel := selector.MustParse(s)
		m[sel.UniqueID()] = sel.String()
		for _, np := range []namedPort{{name: "memcache", proto: 6}, {name: "dns", proto: 17}} {
			spec := ipSetSpec{sel: sel, port: &np}
			m[spec.id()] = fmt.Sprintf("%s, %s/%d", sel.String(), np.name, np.proto)
		}
	}
	return m
}

// moveTo feeds the graph the difference between the current state and s
// (in random key order when shuffle is set), marks it in sync, and applies
// the output to the dataplane model.
func (h *harness) moveTo(s state, shuffle bool) {
	h.t.Helper()
	var kvs []KV
	for k, v := range s.kvs {
		if h.cur[k] != v {
			kvs = append(kvs, KV{Key: k, Value: decode(h.t, k, v)})
		}
	}
	for k := range h.cur {
		if _, ok := s.kvs[k]; !ok {
			kvs = append(kvs, KV{Key: k})
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].Key.String() < kvs[j].Key.String() })
	if shuffle {
		h.rng.Shuffle(len(kvs), func(i, j int) { kvs[i], kvs[j] = kvs[j], kvs[i] })
	}
	h.g.Apply(Input{Updates: kvs, InSync: true})
	h.cur = map[model.Key]string{}
	for k, v := range s.kvs {
		h.cur[k] = v
	}
	if err := h.dp.apply(h.g.Sequencer().Flush()); err != nil {
		h.t.Fatalf("moving to state %q: output breaks the ordering contract: %v", s.name, err)
	}
	if !h.dp.inSync {
		h.t.Fatalf("state %q: no InSync", s.name)
	}
}

// alone returns the summary of state s applied to a fresh graph.
func alone(t *testing.T, s state) string {
	h := newHarness(t, 0)
	h.moveTo(s, false)
	return h.dp.summary(h.names)
}

func TestStatesAlone(t *testing.T) {
	for _, s := range allStates {
		t.Run(s.name, func(t *testing.T) {
			if got := alone(t, s); got != s.want {
				t.Errorf("state %q:\n got:\n%s\nwant:\n%s", s.name, got, s.want)
			}
		})
	}
}

// sequences are the expansions of the state list the graph must handle:
// forward, reversed, with empty states between, and squashed (last only),
// each also with shuffled key order.
func sequences() map[string][]state {
	fwd := allStates
	rev := make([]state, len(fwd))
	for i, s := range fwd {
		rev[len(fwd)-1-i] = s
	}
	var gaps []state
	for _, s := range fwd {
		gaps = append(gaps, s, stEmpty)
	}
	seqs := map[string][]state{"forward": fwd, "reversed": rev, "with-empty-between": gaps}
	for _, s := range fwd {
		seqs["squashed-to-"+s.name] = []state{s}
	}
	// Every ordered pair, so each transition is exercised in both directions.
	for _, a := range fwd {
		for _, b := range fwd {
			seqs[fmt.Sprintf("pair-%s-%s", a.name, b.name)] = []state{a, b, a}
		}
	}
	return seqs
}

func TestStateSequences(t *testing.T) {
	want := map[string]string{}
	for _, s := range allStates {
		want[s.name] = alone(t, s)
	}
	for name, seq := range sequences() {
		for _, shuffle := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shuffle=%v", name, shuffle), func(t *testing.T) {
				h := newHarness(t, int64(len(name)))
				for i, s := range seq {
					h.moveTo(s, shuffle)
					if got := h.dp.summary(h.names); got != want[s.name] {
						t.Fatalf("after step %d (state %q):\n got:\n%s\nwant:\n%s", i, s.name, got, want[s.name])
					}
				}
			})
		}
	}
}

// TestNoOutputBeforeInSync checks the start-of-day contract: nothing is
// flushed until the datastore is in sync, then everything at once.
func TestNoOutputBeforeInSync(t *testing.T) {
	g := NewGraph(testNode, nil)
	for k, v := range stSeed.kvs {
		g.Apply(Input{Updates: []KV{{Key: k, Value: decode(t, k, v)}}})
		if out := g.Sequencer().Flush(); out != nil {
			t.Fatalf("output before in-sync: %v", out)
		}
	}
	g.Apply(Input{InSync: true})
	out := g.Sequencer().Flush()
	if len(out) == 0 {
		t.Fatal("no output after in-sync")
	}
	if _, ok := out[len(out)-1].Payload.(*proto.ToDataplane_InSync); !ok {
		t.Fatalf("last message is %v, want InSync", out[len(out)-1])
	}
	if again := g.Sequencer().Flush(); again != nil {
		t.Fatalf("second flush without changes returned %v", again)
	}
}

// TestSingleChangeIsMinimal checks that one label change produces one IP
// set delta and nothing else.
func TestSingleChangeIsMinimal(t *testing.T) {
	h := newHarness(t, 0)
	h.moveTo(stSeed, false)
	next := state{name: "client-moved", kvs: map[model.Key]string{}}
	for k, v := range stSeed.kvs {
		next.kvs[k] = v
	}
	next.kvs[hepKey("client-1-eth0")] = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"client-1-eth0","labels":{"memcached":"client"}},
		"spec":{"interfaceName":"eth0","node":"client-1","expectedIPs":["10.128.0.201","fd00::200"]}}`
	var kvs []KV
	for k, v := range next.kvs {
		if h.cur[k] != v {
			kvs = append(kvs, KV{Key: k, Value: decode(t, k, v)})
		}
	}
	h.g.Apply(Input{Updates: kvs, InSync: true})
	out := h.g.Sequencer().Flush()
	if len(out) != 1 {
		t.Fatalf("got %d messages, want 1 IP set delta: %v", len(out), out)
	}
	d := out[0].GetIpsetDeltaUpdate()
	if d == nil || fmt.Sprint(d.Added) != "[10.128.0.201/32]" || fmt.Sprint(d.Removed) != "[10.128.0.200/32]" {
		t.Fatalf("got %v, want delta +10.128.0.201/32 -10.128.0.200/32", out[0])
	}
}

// TestPolicyOrder checks Calico's ordering: ascending order, unordered
// policies last, ties by name.
func TestPolicyOrder(t *testing.T) {
	mk := func(name, order string) string {
		o := ""
		if order != "" {
			o = `"order":` + order + `,`
		}
		return `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"` + name + `"},
			"spec":{` + o + `"selector":"all()","doNotTrack":true,"applyOnForward":true,"ingress":[{"action":"Deny"}]}}`
	}
	s := state{name: "order", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): seedHEP,
		gnpKey("z-first"):               mk("z-first", "1"),
		gnpKey("b-none"):                mk("b-none", ""),
		gnpKey("a-none"):                mk("a-none", ""),
		gnpKey("c-ten"):                 mk("c-ten", "10"),
		gnpKey("b-ten"):                 mk("b-ten", "10"),
		gnpKey("m-half"):                mk("m-half", "2.5"),
		gnpKey("n-neg"):                 mk("n-neg", "-3"),
	}}
	h := newHarness(t, 0)
	h.moveTo(s, true)
	got := fmt.Sprint(h.dp.heps["memcached-node-1-eth0"].Untracked.Ingress)
	want := "[n-neg z-first m-half b-ten c-ten a-none b-none]"
	if got != want {
		t.Fatalf("order %s, want %s", got, want)
	}
}
