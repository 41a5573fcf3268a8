package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/datastore"
	"github.com/untrackd/untrackd/model"
)

// testEtcd starts an embedded etcd on free ports and returns its client URL
// and a client.
func testEtcd(t *testing.T) (string, *clientv3.Client) {
	t.Helper()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return "http://" + l.Addr().String()
	}
	url := free()
	e, err := datastore.StartEmbedded(datastore.EmbeddedConfig{Dir: t.TempDir(), ClientURL: url, PeerURL: free(),
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), UnsafeNoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return url, cli
}

// testCtl is an untrackctl with a fixed clock, numbered UIDs and captured
// output, pointed at an etcd by the environment as an operator would.
type testCtl struct {
	*ctl
	out, errOut *bytes.Buffer
	uids        int
}

func newTestCtl(t *testing.T, etcdURL string) *testCtl {
	t.Setenv("UNTRACKD_ETCD_ENDPOINTS", etcdURL)
	tc := &testCtl{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	tc.ctl = &ctl{in: strings.NewReader(""), out: tc.out, errOut: tc.errOut,
		now: func() time.Time { return time.Date(2026, 3, 4, 5, 6, 7, 890, time.FixedZone("CET", 3600)) },
		uid: func() string { tc.uids++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", tc.uids) }}
	return tc
}

// exec runs a command and returns its exit code; output accumulates.
func (tc *testCtl) exec(args ...string) int {
	tc.out.Reset()
	tc.errOut.Reset()
	return tc.run(context.Background(), args)
}

func (tc *testCtl) mustExec(t *testing.T, args ...string) string {
	t.Helper()
	if code := tc.exec(args...); code != 0 {
		t.Fatalf("untrackctl %s: exit %d\n%s", strings.Join(args, " "), code, tc.errOut)
	}
	return tc.out.String()
}

func valueAt(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cli.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// The JSON calicoctl stores for the seed guide's YAML (libcalico-go's
// resources.Create and globalNetworkPolicies.Create): compact, Calico's
// field order, metadata reduced to name and labels plus a uid and a
// creationTimestamp (UTC, seconds), no resourceVersion, the policy's types
// defaulted from its rules, its name without a tier prefix.
const (
	wantSeedHEP = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0",` +
		`"uid":"00000000-0000-4000-8000-000000000001","creationTimestamp":"2026-03-04T04:06:07Z","labels":{"memcached":"server"}},` +
		`"spec":{"node":"memcached-node-1","interfaceName":"eth0","expectedIPs":["10.128.0.162"]}}`
	wantSeedGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server",` +
		`"uid":"00000000-0000-4000-8000-000000000002","creationTimestamp":"2026-03-04T04:06:07Z"},` +
		`"spec":{"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],` +
		`"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}],` +
		`"selector":"memcached == 'server'","types":["Ingress","Egress"],"doNotTrack":true,"applyOnForward":true}}`
)

// TestApplySeedStoresCalicoJSON applies the seed guide's YAML and compares
// the stored bytes with what calicoctl would write.
func TestApplySeedStoresCalicoJSON(t *testing.T) {
	url, cli := testEtcd(t)
	tc := newTestCtl(t, url)
	if out := tc.mustExec(t, "apply", "-f", "testdata/seed.yaml"); out != "applied 2 resource(s)\n" {
		t.Errorf("output %q", out)
	}
	for key, want := range map[string]string{
		model.KeyPrefix + "hostendpoints/memcached-node-1-eth0":    wantSeedHEP,
		model.KeyPrefix + "globalnetworkpolicies/memcached-server": wantSeedGNP,
	} {
		if got := valueAt(t, cli, key); got != want {
			t.Errorf("%s:\n got %s\nwant %s", key, got, want)
		}
	}
	// What the daemon reads back is valid and the same policy.
	if _, err := model.DecodeKey(model.Key{Kind: model.KindGlobalNetworkPolicy, Name: "memcached-server"}, []byte(wantSeedGNP)); err != nil {
		t.Errorf("the daemon would reject the stored policy: %v", err)
	}
	// Applying again changes nothing but the spec: uid and creation time stay.
	tc.mustExec(t, "apply", "-f", "testdata/seed.yaml")
	if got := valueAt(t, cli, model.KeyPrefix+"globalnetworkpolicies/memcached-server"); got != wantSeedGNP {
		t.Errorf("re-apply changed the stored policy:\n%s", got)
	}
}
