package main

import (
	"strings"
	"testing"
)

// TestExplain applies the seed guide's resources plus a client host
// endpoint and asks which rule decides packets.
func TestExplain(t *testing.T) {
	url, _ := testEtcd(t)
	tc := newTestCtl(t, url)
	tc.mustExec(t, "apply", "-f", "testdata/seed.yaml")
	client := writeFile(t, `apiVersion: projectcalico.org/v3
kind: HostEndpoint
metadata: {name: client, labels: {memcached: client}}
spec: {interfaceName: eth0, node: client-node, expectedIPs: [10.128.0.200]}`)
	tc.mustExec(t, "apply", "-f", client)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"--node", "memcached-node-1", "--iface", "eth0", "--src", "10.128.0.200", "--dst", "10.128.0.162", "--dport", "12211"},
			[]string{"ALLOW-UNTRACKED: allowed, not tracked", "untracked policy memcached-server rule 0 allowed"}},
		{[]string{"--node", "memcached-node-1", "--out-iface", "eth0", "--src", "10.128.0.162", "--sport", "12211", "--dst", "10.128.0.200", "--dport", "40000"},
			[]string{"ALLOW-UNTRACKED", "egress"}},
		{[]string{"--node", "memcached-node-1", "--iface", "eth0", "--src", "10.128.0.99", "--dst", "10.128.0.162", "--dport", "12211"},
			[]string{"DENY: dropped", "default deny on host endpoint memcached-node-1-eth0"}},
		{[]string{"--node", "memcached-node-1", "--iface", "eth0", "--src", "10.128.0.99", "--dst", "10.128.0.162", "--dport", "22"},
			[]string{"ALLOW: allowed, tracked", "failsafe"}},
		{[]string{"--node", "another-node", "--iface", "eth0", "--src", "10.128.0.99", "--dst", "10.128.0.162", "--dport", "80"},
			[]string{"ALLOW", "no host endpoint on the interface"}},
	}
	for _, c := range cases {
		out := tc.mustExec(t, append([]string{"explain"}, c.args...)...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("explain %v:\n%s\nmissing %q", c.args, out, w)
			}
		}
	}
	out := tc.mustExec(t, "explain", "-o", "json", "--node", "memcached-node-1", "--iface", "eth0", "--src", "10.128.0.200", "--dst", "10.128.0.162", "--dport", "12211")
	if !strings.Contains(out, `"verdict": "allow-untracked"`) || !strings.Contains(out, `"tracked": false`) {
		t.Errorf("json output:\n%s", out)
	}
	if code := tc.exec("explain", "--src", "10.0.0.1", "--dst", "fd00::1", "--iface", "eth0"); code != 2 {
		t.Errorf("mixed families: exit %d, want 2", code)
	}
}
