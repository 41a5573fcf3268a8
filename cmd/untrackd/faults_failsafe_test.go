package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/cmd/internal/faults"
	"github.com/untrackd/untrackd/dataplane/nft"
)

// tableModel is untrackd's table rebuilt from the kernel's nftables
// notifications, one committed generation at a time: every state the
// kernel ever held, not just the ones a poll happens to see.
type tableModel struct {
	chains map[string]*modelChain
}

type modelChain struct {
	base  bool
	rules []modelRule // in handle order (untrackd only appends)
}

type modelRule struct {
	handle uint64
	hash   string
	target string // jump or goto target, "" if none
}

func (m *tableModel) apply(ev *nftables.MonitorEvent) error {
	if ev.Error != nil {
		return fmt.Errorf("notification %d: %w", ev.Type, ev.Error)
	}
	switch ev.Type {
	case nftables.MonitorEventTypeNewTable, nftables.MonitorEventTypeDelTable:
		t, ok := ev.Data.(*nftables.Table)
		if !ok || t.Name != nft.TableName || t.Family != nftables.TableFamilyINet {
			return nil
		}
		if ev.Type == nftables.MonitorEventTypeDelTable {
			m.chains = map[string]*modelChain{}
		}
	case nftables.MonitorEventTypeNewChain, nftables.MonitorEventTypeDelChain:
		c, ok := ev.Data.(*nftables.Chain)
		if !ok || c.Table == nil || c.Table.Name != nft.TableName {
			return nil
		}
		if ev.Type == nftables.MonitorEventTypeDelChain {
			delete(m.chains, c.Name)
		} else if m.chains[c.Name] == nil {
			m.chains[c.Name] = &modelChain{base: c.Hooknum != nil}
		}
	case nftables.MonitorEventTypeNewRule, nftables.MonitorEventTypeDelRule:
		r, ok := ev.Data.(*nftables.Rule)
		if !ok || r.Table == nil || r.Table.Name != nft.TableName || r.Chain == nil {
			return nil
		}
		c := m.chains[r.Chain.Name]
		if c == nil {
			return fmt.Errorf("rule for unknown chain %s", r.Chain.Name)
		}
		if ev.Type == nftables.MonitorEventTypeDelRule {
			c.rules = slices.DeleteFunc(c.rules, func(x modelRule) bool { return x.handle == r.Handle })
			return nil
		}
		comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		mr := modelRule{handle: r.Handle, hash: nft.HashFromComment(comment)}
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && (v.Kind == expr.VerdictJump || v.Kind == expr.VerdictGoto) {
				mr.target = v.Chain
			}
		}
		c.rules = append(c.rules, mr)
		sort.Slice(c.rules, func(i, j int) bool { return c.rules[i].handle < c.rules[j].handle })
	}
	return nil
}

func (c *modelChain) hashes() []string {
	h := make([]string, len(c.rules))
	for i, r := range c.rules {
		h[i] = r.hash
	}
	return h
}

// failsafeFor names the failsafe chain that must guard a host endpoint
// chain, "" for those that have none by design (forwarded traffic).
func failsafeFor(chain string) string {
	switch {
	case strings.HasPrefix(chain, "hep-untracked-in-"):
		return "failsafe-raw-in" // jumped to from raw-prerouting, before
	case strings.HasPrefix(chain, "hep-untracked-out-"):
		return "failsafe-raw-out"
	case strings.HasPrefix(chain, "hep-prednat-in-"), strings.HasPrefix(chain, "hep-in-"):
		return "failsafe-in"
	case strings.HasPrefix(chain, "hep-out-"):
		return "failsafe-out"
	}
	return ""
}

// violations checks one state: every host endpoint chain reachable from a
// base chain must pass packets through its failsafe chain first (raw
// chains: the base chain's first rule; the others: a jump before any
// policy or profile), and that failsafe chain must hold one of the complete
// rule lists in good. It also returns the failsafe chains' rule lists seen.
func (m *tableModel) violations(good map[string][][]string) (bad []string, reachable int) {
	complete := func(fs string) bool {
		c := m.chains[fs]
		if c == nil {
			return false
		}
		for _, g := range good[fs] {
			if slices.Equal(c.hashes(), g) {
				return true
			}
		}
		return false
	}
	for name, c := range m.chains {
		if !c.base {
			continue
		}
		var walk func(chain string, guarded string, depth int)
		walk = func(chain string, guarded string, depth int) {
			cc := m.chains[chain]
			if cc == nil || depth > 4 {
				return
			}
			for _, r := range cc.rules {
				switch {
				case r.target == "":
				case strings.HasPrefix(r.target, "failsafe-"):
					guarded = r.target
				case strings.HasPrefix(r.target, "fwd-dispatch-"):
					walk(r.target, guarded, depth+1)
				case strings.HasPrefix(r.target, "hep-"):
					fs := failsafeFor(r.target)
					if fs == "" {
						continue
					}
					reachable++
					if strings.HasPrefix(fs, "failsafe-raw-") {
						if guarded != fs || !complete(fs) {
							bad = append(bad, fmt.Sprintf("%s reaches %s without a complete %s before it", name, r.target, fs))
						}
						continue
					}
					// The endpoint chain must jump to its failsafe chain
					// before any policy or profile.
					ok := false
					for _, er := range m.chains[r.target].rulesOrNil() {
						if er.target == fs {
							ok = complete(fs)
							break
						}
						if er.target != "" {
							break
						}
					}
					if !ok {
						bad = append(bad, fmt.Sprintf("%s reaches %s, which does not pass through a complete %s first", name, r.target, fs))
					}
				}
			}
		}
		walk(name, "", 0)
	}
	return bad, reachable
}

func (c *modelChain) rulesOrNil() []modelRule {
	if c == nil {
		return nil
	}
	return c.rules
}

// genRecorder receives a namespace's nftables notifications and keeps a
// copy of untrackd's table after every generation.
type genRecorder struct {
	mu     sync.Mutex
	model  tableModel
	states []*tableModel // after each generation that touched the table
	errs   []string
	done   chan struct{}
	mon    *nftables.Monitor
}

func (b *faultBed) recordGenerations() *genRecorder {
	b.t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(b.srv.FD(b.t)),
		nftables.WithSockOptions(func(c *netlink.Conn) error { return c.SetReadBuffer(256 << 20) }))
	if err != nil {
		b.t.Fatal(err)
	}
	g := &genRecorder{model: tableModel{chains: map[string]*modelChain{}}, done: make(chan struct{}),
		mon: nftables.NewMonitor(nftables.WithMonitorEventBuffer(1 << 12))}
	ch, err := conn.AddGenerationalMonitor(g.mon)
	if err != nil {
		b.t.Fatal(err)
	}
	go func() {
		defer close(g.done)
		for evs := range ch {
			g.mu.Lock()
			touched := false
			for _, ev := range evs.Changes {
				if ev.Type == nftables.MonitorEventTypeOOB {
					g.errs = append(g.errs, fmt.Sprintf("notifications lost: %v", ev.Error))
					continue
				}
				if err := g.model.apply(ev); err != nil {
					g.errs = append(g.errs, err.Error())
				}
				touched = true
			}
			if evs.GeneratedBy != nil && evs.GeneratedBy.Type == nftables.MonitorEventTypeOOB {
				g.errs = append(g.errs, fmt.Sprintf("monitor failed: %v", evs.GeneratedBy.Error))
			}
			if touched {
				g.states = append(g.states, g.model.clone())
			}
			g.mu.Unlock()
		}
	}()
	b.t.Cleanup(g.stop)
	return g
}

func (g *genRecorder) stop() {
	_ = g.mon.Close()
	<-g.done
}

func (m *tableModel) clone() *tableModel {
	c := &tableModel{chains: make(map[string]*modelChain, len(m.chains))}
	for k, v := range m.chains {
		c.chains[k] = &modelChain{base: v.base, rules: slices.Clone(v.rules)}
	}
	return c
}

// take returns the states recorded so far and forgets them.
func (g *genRecorder) take() ([]*tableModel, []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, e := g.states, g.errs
	g.states, g.errs = nil, nil
	return s, e
}

// matches reports whether the model equals a listed table (chains and
// rule hashes).
func (g *genRecorder) matches(st *nft.TableState) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var diff []string
	for name, c := range st.Chains {
		mc := g.model.chains[name]
		if mc == nil || !slices.Equal(mc.hashes(), c.Hashes()) {
			diff = append(diff, name)
		}
	}
	if len(g.model.chains) != len(st.Chains) {
		diff = append(diff, fmt.Sprintf("%d chains in the model, %d listed", len(g.model.chains), len(st.Chains)))
	}
	return strings.Join(diff, ", ")
}

// largeDatastore returns a few thousand resources: remote host endpoints,
// network sets, and untracked, normal and pre-DNAT policies selecting the
// server, whose computation takes a while.
func largeDatastore(policies, sets, remoteHEPs int) [][2]string {
	var kvs [][2]string
	for i := 0; i < remoteHEPs; i++ {
		name := fmt.Sprintf("remote-%04d", i)
		kvs = append(kvs, [2]string{keyPrefix + "hostendpoints/" + name, fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":%q,"labels":{"role":"r%d"}},"spec":{"node":"node-%d","interfaceName":"eth0","expectedIPs":["10.%d.%d.%d"]}}`, name, i%50, i, 100+i/65536, (i/256)%256, i%256)})
	}
	for i := 0; i < sets; i++ {
		var nets []string
		for j := 0; j < 20; j++ {
			nets = append(nets, fmt.Sprintf(`"172.%d.%d.0/24"`, 16+i%16, (i*20+j)%256))
		}
		name := fmt.Sprintf("set-%03d", i)
		kvs = append(kvs, [2]string{keyPrefix + "globalnetworksets/" + name, fmt.Sprintf(`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":%q,"labels":{"set":"s%d"}},"spec":{"nets":[%s]}}`, name, i, strings.Join(nets, ","))})
	}
	for i := 0; i < policies; i++ {
		name := fmt.Sprintf("bulk-%04d", i)
		var spec string
		switch i % 3 {
		case 0:
			spec = fmt.Sprintf(`{"order":%d,"selector":"memcached == 'server'","doNotTrack":true,"applyOnForward":true,"ingress":[{"action":"Deny","protocol":"TCP","source":{"selector":"set == 's%d'"},"destination":{"ports":[%d]}}],"egress":[{"action":"Deny","protocol":"UDP","destination":{"selector":"role == 'r%d'","ports":[%d]}}]}`, 1000+i, i%sets, 30000+i, i%50, 30000+i)
		case 1:
			spec = fmt.Sprintf(`{"order":%d,"selector":"memcached == 'server'","ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"role == 'r%d'"},"destination":{"ports":[%d]}}]}`, 1000+i, i%50, 30000+i)
		default:
			spec = fmt.Sprintf(`{"order":%d,"selector":"memcached == 'server'","preDNAT":true,"applyOnForward":true,"ingress":[{"action":"Deny","protocol":"TCP","source":{"selector":"set == 's%d'"},"destination":{"ports":[%d]}}]}`, 1000+i, i%sets, 30000+i)
		}
		kvs = append(kvs, [2]string{keyPrefix + "globalnetworkpolicies/" + name, gnpJSON(name, spec)})
	}
	return kvs
}

// TestFaultFailsafeAlwaysFirst starts untrackd on a large datastore and
// records every state of its table the kernel commits (from nftables
// notifications, so no state is missed between polls): in none of them is
// a host endpoint chain reachable without its complete failsafe rules in
// front. The same holds when the host endpoint is removed and added back
// (so its chains are created anew while all the policies exist), and when
// FelixConfiguration changes the failsafe ports. The table rebuilt from
// the notifications is checked against a listing at the end.
func TestFaultFailsafeAlwaysFirst(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{noStart: true})
	const policies, sets, remotes = 1500, 200, 3000
	b.etcd.putMany(largeDatastore(policies, sets, remotes))
	rec := b.recordGenerations()
	start := time.Now()
	b.start()
	b.waitReady(180 * time.Second)
	ready := time.Since(start)
	b.waitFor("every bulk policy in the kernel", 120*time.Second, func() bool {
		return b.metric("untrackd_dataplane_policies") >= policies+2
	})
	time.Sleep(500 * time.Millisecond)
	good := map[string][][]string{}
	remember := func() {
		st := b.list()
		for _, fs := range []string{"failsafe-raw-in", "failsafe-raw-out", "failsafe-in", "failsafe-out"} {
			if st.Chains[fs] == nil || len(st.Chains[fs].Rules) == 0 {
				t.Fatalf("no complete %s to compare with", fs)
			}
			good[fs] = append(good[fs], st.Chains[fs].Hashes())
		}
	}
	remember()
	var allStates []*tableModel
	check := func(phase string) (int, int) {
		t.Helper()
		if diff := rec.matches(b.list()); diff != "" {
			t.Errorf("%s: the table rebuilt from notifications differs from the listing: %s", phase, diff)
		}
		states, errs := rec.take()
		if len(errs) > 0 {
			t.Fatalf("%s: %d notification problems, first: %s", phase, len(errs), errs[0])
		}
		allStates = append(allStates, states...)
		reach := 0
		for i, s := range states {
			bad, r := s.violations(good)
			reach += r
			if len(bad) > 0 {
				t.Errorf("%s: state %d of %d: %s", phase, i+1, len(states), strings.Join(bad, "; "))
			}
		}
		return len(states), reach
	}
	gens1, reach1 := check("start-up")

	// The host endpoint goes and comes back: its chains are built while all
	// the policies already exist.
	hepKey := keyPrefix + "hostendpoints/memcached-node-1-eth0"
	b.etcd.del(hepKey)
	b.waitFor("the endpoint's chains to go", 60*time.Second, func() bool { return b.list().Chains["hep-in-memcached-node-1-eth0"] == nil })
	b.etcd.put(hepKey, seedHEP)
	b.waitFor("the endpoint's chains to return", 60*time.Second, func() bool {
		return b.list().Chains["hep-in-memcached-node-1-eth0"] != nil && b.ready()
	})
	time.Sleep(300 * time.Millisecond)
	gens2, reach2 := check("endpoint re-added")

	// The policies are deleted and written again, 100 per transaction,
	// while untrackd runs: it applies them in many smaller steps.
	ctx, cancel := b.etcd.ctx()
	_, err := b.etcd.cli.Delete(ctx, keyPrefix+"globalnetworkpolicies/bulk-", clientv3.WithPrefix())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	b.waitFor("the policies to go", 60*time.Second, func() bool { return b.metric("untrackd_dataplane_policies") == 2 })
	var bulk [][2]string
	for _, kv := range largeDatastore(policies, sets, 0) {
		if strings.Contains(kv[0], "/globalnetworkpolicies/") {
			bulk = append(bulk, kv)
		}
	}
	b.etcd.putMany(bulk)
	b.waitFor("the policies to return", 120*time.Second, func() bool {
		return b.metric("untrackd_dataplane_policies") >= policies+2 && b.ready()
	})
	time.Sleep(300 * time.Millisecond)
	gens3, reach3 := check("policies written while running")

	// FelixConfiguration changes the failsafe ports: the failsafe chains
	// are rewritten, never left partial.
	fc := `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"failsafeInboundHostPorts":[{"protocol":"TCP","port":22},{"protocol":"TCP","port":2222}],"failsafeOutboundHostPorts":[{"protocol":"UDP","port":53}]}}`
	before := b.list().Chains["failsafe-in"].Hashes()
	b.etcd.put(keyPrefix+"felixconfigurations/default", fc)
	b.waitFor("the new failsafe ports", 60*time.Second, func() bool {
		return !slices.Equal(b.list().Chains["failsafe-in"].Hashes(), before) && b.ready()
	})
	time.Sleep(300 * time.Millisecond)
	remember()
	gens4, reach4 := check("failsafe ports changed")
	st := b.list()
	rules := 0
	for _, c := range st.Chains {
		rules += len(c.Rules)
	}
	b.rows.add(faults.Row{Fault: "failsafe first in every kernel state", Converge: ready,
		Notes: fmt.Sprintf("%d policies, %d sets, %d remote endpoints (%d chains, %d rules); %d+%d+%d+%d committed states checked (start-up, endpoint re-added, policies rewritten while running, failsafe ports changed), %d endpoint-chain hook-ups, none without complete failsafe",
			policies, sets, remotes, len(st.Chains), rules, gens1, gens2, gens3, gens4, reach1+reach2+reach3+reach4)})

	// The check itself catches what it must: the last state with the
	// failsafe jump gone, or with a failsafe chain cut short.
	last := allStates[len(allStates)-1]
	for what, breakIt := range map[string]func(m *tableModel){
		"no failsafe jump in raw-prerouting": func(m *tableModel) { m.chains["raw-prerouting"].rules = m.chains["raw-prerouting"].rules[1:] },
		"failsafe-in cut short":              func(m *tableModel) { m.chains["failsafe-in"].rules = m.chains["failsafe-in"].rules[1:] },
		"failsafe-out missing":               func(m *tableModel) { delete(m.chains, "failsafe-out") },
	} {
		m := last.clone()
		breakIt(m)
		if bad, _ := m.violations(good); len(bad) == 0 {
			t.Errorf("the check missed a state with %s", what)
		}
	}
}
