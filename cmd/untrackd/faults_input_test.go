package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/cmd/internal/faults"
)

func gnpJSON(name, spec string) string {
	return `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"` + name + `"},"spec":` + spec + `}`
}

// untrackedDeny is a valid untracked policy denying one port on the server.
func untrackedDeny(name string, port int) string {
	return gnpJSON(name, fmt.Sprintf(`{"order":50,"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Deny","protocol":"TCP","destination":{"ports":[%d]}}]}`, port))
}

// memStatus returns the daemon's resident set size and its peak, in bytes.
func (b *faultBed) memStatus() (rss, peak int64) {
	b.t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.d.cmd.Process.Pid))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestFaultBadInput writes invalid resources of every sort next to valid
// ones: each is rejected with a log line naming its key, the reason and
// what is wrong (counted by kind and reason), keys outside untrackd's
// layout are never read, and everything valid is still applied and
// enforced. Selectors built to be slow (64 KiB of terms, the nesting limit)
// do not stall the pipeline. Then 10,000 invalid resources among 50 valid
// ones: the valid ones are applied, and the daemon's memory (RSS after a
// fresh start with and without them, and while watching them arrive) stays
// bounded.
func TestFaultBadInput(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{})
	gnp := func(name string) string { return keyPrefix + "globalnetworkpolicies/" + name }
	hep := func(name string) string { return keyPrefix + "hostendpoints/" + name }
	deep := strings.Repeat("(", 300) + "has(a)" + strings.Repeat(")", 300)
	bad := []struct {
		what, key, value, reason, says string
	}{
		{"invalid JSON", gnp("bad-json"), `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{`, "decode", "invalid JSON"},
		{"not JSON at all", gnp("bad-bytes"), "\x00\xff\xfe garbage", "decode", "invalid JSON"},
		{"wrong apiVersion", gnp("bad-version"), strings.Replace(untrackedDeny("bad-version", 1), "projectcalico.org/v3", "crd.projectcalico.org/v1", 1), "decode", "apiVersion"},
		{"unknown kind", gnp("bad-kind"), strings.Replace(untrackedDeny("bad-kind", 1), "GlobalNetworkPolicy", "NetworkPolicy", 1), "decode", "is not one untrackd reads"},
		{"kind of another key", hep("bad-place"), untrackedDeny("bad-place", 1), "key", "stored under a hostendpoints key"},
		{"name not the key's", gnp("bad-name"), untrackedDeny("other-name", 1), "key", "does not match the key's name"},
		{"unknown field", gnp("bad-field"), gnpJSON("bad-field", `{"selectorr":"all()"}`), "decode", "unknown field"},
		{"invalid port", gnp("bad-port"), untrackedDeny("bad-port", 99999), "validate", "99999"},
		{"1 MiB label value", hep("bad-label"), `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"bad-label","labels":{"a":"` + strings.Repeat("x", 1<<20) + `"}},"spec":{"node":"memcached-node-1","interfaceName":"eth9"}}`, "validate", "not a valid label value"},
		{"100 KiB selector", gnp("bad-long-selector"), gnpJSON("bad-long-selector", `{"selector":"`+strings.Repeat("has(a) || ", 10<<10)+`has(b)"}`), "validate", "bytes long, at most 4096 allowed"},
		{"selector nested 300 deep", gnp("bad-deep-selector"), gnpJSON("bad-deep-selector", `{"selector":"`+deep+`"}`), "validate", "nesting too deep"},
		{"namespaced key", keyPrefix + "globalnetworkpolicies/ns1/bad-ns", untrackedDeny("bad-ns", 1), "key", "namespaced key"},
		{"invalid name in key", hep("Bad_Name"), `{}`, "key", "name"},
	}
	rejected0 := b.metrics()
	start := time.Now()
	for _, c := range bad {
		b.etcd.put(c.key, c.value)
	}
	// Keys outside untrackd's layout: never read.
	b.etcd.put(keyPrefix+"networkpolicies/ns1/not-ours", untrackedDeny("not-ours", 1))
	b.etcd.put("/calico/ipam/v2/assignment/not-ours", "{}")
	b.etcd.put("/elsewhere/not-ours", "not json")
	// Valid resources written after them, among them selectors built to
	// be slow: as many terms as fit in the 4 KiB a selector may have, and
	// deep nesting.
	long := strings.Repeat("!has(zz) && ", 338) + "memcached == 'server'"
	b.etcd.put(gnp("slow-long"), gnpJSON("slow-long", `{"order":60,"selector":"`+long+`","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Deny","protocol":"TCP","source":{"selector":"`+long+`"},"destination":{"ports":[40001]}}]}`))
	nested := strings.Repeat("!(", 100) + "!has(zz)" + strings.Repeat(")", 100) + " && memcached == 'server'"
	b.etcd.put(gnp("slow-nested"), gnpJSON("slow-nested", `{"order":61,"selector":"`+nested+`","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Deny","protocol":"TCP","destination":{"ports":[40002]}}]}`))
	b.etcd.put(gnp("deny-port"), denyGNP(12213))
	took := b.waitFor("the valid resources", 30*time.Second, func() bool {
		st := b.list()
		return b.ready() && st.Chains["pol-untracked-in-deny-port"] != nil && st.Chains["pol-untracked-in-slow-long"] != nil && st.Chains["pol-untracked-in-slow-nested"] != nil
	})
	// Each prefix has its own watch, so the host endpoints' (with the
	// 1 MiB value) can lag behind the policies' that made the valid ones
	// appear.
	logged := func(key string) (found map[string]any) {
		for _, l := range b.logLines(b.d, "ignoring invalid resource in etcd") {
			if k := fmt.Sprint(l["key"]); strings.HasPrefix(key, strings.TrimSuffix(k, "…")) {
				found = l
			}
		}
		return found
	}
	b.waitFor("a log line for every invalid resource", 10*time.Second, func() bool {
		for _, c := range bad {
			if logged(c.key) == nil {
				return false
			}
		}
		return true
	})
	m := b.metrics()
	logs := b.d.out.String()
	var notes []string
	for _, c := range bad {
		found := logged(c.key)
		switch {
		case found == nil:
			t.Errorf("%s: no log line for key %s", c.what, c.key)
		case found["reason"] != c.reason || !strings.Contains(fmt.Sprint(found["error"]), c.says):
			t.Errorf("%s: logged reason %v, error %q; want %s, %q", c.what, found["reason"], found["error"], c.reason, c.says)
		case len(fmt.Sprint(found["error"])) > 600:
			t.Errorf("%s: error message of %d bytes", c.what, len(fmt.Sprint(found["error"])))
		default:
			t.Logf("%-26s → %s: %s", c.what, c.reason, found["error"])
		}
	}
	for _, k := range []string{"not-ours"} {
		if strings.Contains(logs, k) {
			t.Errorf("a key outside untrackd's layout was read: %s", k)
		}
	}
	counted := 0
	for _, reason := range []string{"decode", "key", "validate"} {
		for _, kind := range []string{"GlobalNetworkPolicy", "HostEndpoint"} {
			s := fmt.Sprintf(`untrackd_datastore_rejected_resources_total{kind=%q,reason=%q}`, kind, reason)
			counted += int(m[s] - rejected0[s])
		}
	}
	if counted != len(bad) {
		t.Errorf("%d rejections counted, want %d", counted, len(bad))
	}
	if f := b.cli.TCPConnect(srvIP+":12213", 300*time.Millisecond); f == nil {
		t.Error("the valid deny policy written after the invalid ones does not deny")
	}
	tr := b.startTraffic()
	time.Sleep(time.Second)
	res := tr.stop()
	if res.failed != 0 || res.longFail != 0 {
		t.Errorf("traffic with invalid resources present: %v", res)
	}
	if n := b.srv.ConntrackCount(t, "-p", "tcp", "--dport", portUntracked); n != 0 {
		t.Errorf("%d conntrack entries for the untracked port", n)
	}
	notes = append(notes, fmt.Sprintf("%d kinds of invalid value and key each logged with key, reason and cause, counted; slow selectors applied in %v",
		len(bad), took.Round(time.Millisecond)))
	b.rows.add(faults.Row{Fault: "bad input: every kind of invalid resource", Attempted: res.attempted, Failed: res.failed,
		Converge: time.Since(start), Notes: strings.Join(notes, "; ")})

	// 10,000 invalid resources among 50 valid ones, interleaved.
	rssRunning, _ := b.memStatus()
	var kvs [][2]string
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("invalid-%05d", i)
		kvs = append(kvs, [2]string{gnp(name), untrackedDeny(name, 70000+i)})
		if i%200 == 0 {
			v := fmt.Sprintf("valid-%02d", i/200)
			kvs = append(kvs, [2]string{gnp(v), untrackedDeny(v, 20000+i/200)})
		}
	}
	rej := func() float64 {
		return b.metric(`untrackd_datastore_rejected_resources_total{kind="GlobalNetworkPolicy",reason="validate"}`)
	}
	rej0 := rej()
	start = time.Now()
	b.etcd.putMany(kvs)
	allValid := func() bool {
		st := b.list()
		for i := 0; i < 50; i++ {
			if st.Chains[fmt.Sprintf("pol-untracked-in-valid-%02d", i)] == nil {
				return false
			}
		}
		return b.ready()
	}
	b.waitFor("the 50 valid policies among 10,000 invalid ones", 120*time.Second, func() bool { return rej()-rej0 == 10000 && allValid() })
	watched := time.Since(start)
	time.Sleep(2 * time.Second)
	rssWatched, peakWatched := b.memStatus()

	// A fresh start with all of them in etcd (the listing path), and one
	// with the same valid resources but without the invalid ones.
	freshStart := func(what string, ready func() bool) (time.Duration, int64, int64) {
		b.kill(syscall.SIGKILL)
		start := time.Now()
		b.start()
		b.waitFor(what, 120*time.Second, ready)
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		rss, peak := b.memStatus()
		return took, rss, peak
	}
	listed, rssWith, peakWith := freshStart("a fresh start with 10,000 invalid resources", func() bool { return allValid() && rej() >= 10000 })
	ctx, cancel := b.etcd.ctx()
	_, err := b.etcd.cli.Delete(ctx, gnp("invalid-"), clientv3.WithPrefix())
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	_, rssWithout, peakWithout := freshStart("a fresh start without them", allValid)
	t.Logf("RSS after a fresh start: with 10,000 invalid resources %s (peak %s), without %s (peak %s); while running: before %s, after watching them %s (peak %s)",
		mib(rssWith), mib(peakWith), mib(rssWithout), mib(peakWithout), mib(rssRunning), mib(rssWatched), mib(peakWatched))
	const bound = 32 << 20
	if rssWith-rssWithout > bound || rssWatched-rssRunning > bound {
		t.Errorf("memory grew by more than %s with 10,000 invalid resources", mib(bound))
	}
	tr = b.startTraffic()
	time.Sleep(time.Second)
	res = tr.stop()
	if res.failed != 0 || res.longFail != 0 {
		t.Errorf("traffic with 10,000 invalid resources present: %v", res)
	}
	b.rows.add(faults.Row{Fault: "bad input: 10,000 invalid among 50 valid", Attempted: res.attempted, Failed: res.failed, Converge: watched,
		Notes: fmt.Sprintf("all 10,000 rejected, all 50 applied (watched %v, fresh start %v); RSS after a fresh start %s with them, %s without (peaks %s, %s)",
			watched.Round(time.Millisecond), listed.Round(time.Millisecond), mib(rssWith), mib(rssWithout), mib(peakWith), mib(peakWithout))})
}
