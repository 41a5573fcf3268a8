package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
	"github.com/untrackd/untrackd/model"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const gns = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata:
  name: clients
  labels: {memcached: client}
spec:
  nets: [10.0.0.0/8]
`

func gnsWith(labels, nets string) string {
	return strings.NewReplacer("{memcached: client}", labels, "[10.0.0.0/8]", nets).Replace(gns)
}

// TestWriteSemantics checks create, replace, apply and delete against
// etcd: existence conditions, kept metadata, resourceVersion conflicts.
func TestWriteSemantics(t *testing.T) {
	url, cli := testEtcd(t)
	tc := newTestCtl(t, url)
	key := model.KeyPrefix + "globalnetworksets/clients"
	f := writeFile(t, gns)

	if code := tc.exec("replace", "-f", f); code != 1 || !strings.Contains(tc.errOut.String(), `replace GlobalNetworkSet "clients"`) || !strings.Contains(tc.errOut.String(), "not found") {
		t.Errorf("replace of a missing resource: exit %d %s", code, tc.errOut)
	}
	tc.mustExec(t, "create", "-f", f)
	created := valueAt(t, cli, key)
	if code := tc.exec("create", "-f", f); code != 1 || !strings.Contains(tc.errOut.String(), "already exists") {
		t.Errorf("second create: exit %d %s", code, tc.errOut)
	}

	// replace: new labels and spec; uid and creationTimestamp kept.
	tc.mustExec(t, "replace", "-f", writeFile(t, gnsWith("{memcached: other}", "[192.168.0.0/16]")))
	got := valueAt(t, cli, key)
	if !strings.Contains(got, `"uid":"00000000-0000-4000-8000-000000000001"`) || !strings.Contains(got, `"memcached":"other"`) ||
		!strings.Contains(got, "192.168.0.0/16") || got == created {
		t.Errorf("after replace: %s", got)
	}

	// A stale resourceVersion is a conflict; the current one works.
	resp, _ := cli.Get(context.Background(), key)
	rev := resp.Kvs[0].ModRevision
	stale := strings.Replace(gns, "  name: clients\n", "  name: clients\n  resourceVersion: \""+strconv.FormatInt(rev-1, 10)+"\"\n", 1)
	if code := tc.exec("replace", "-f", writeFile(t, stale)); code != 1 || !strings.Contains(tc.errOut.String(), "resourceVersion out of date") {
		t.Errorf("stale resourceVersion: exit %d %s", code, tc.errOut)
	}
	current := strings.Replace(stale, strconv.FormatInt(rev-1, 10), strconv.FormatInt(rev, 10), 1)
	tc.mustExec(t, "apply", "-f", writeFile(t, current))
	if got := valueAt(t, cli, key); strings.Contains(got, "resourceVersion") || !strings.Contains(got, `"uid":"00000000-0000-4000-8000-000000000001"`) {
		t.Errorf("after apply with resourceVersion: %s", got)
	}
	// create refuses a resourceVersion, as calicoctl does.
	tc.mustExec(t, "delete", "gns", "clients")
	if code := tc.exec("create", "-f", writeFile(t, current)); code != 1 || !strings.Contains(tc.errOut.String(), "resourceVersion must not be set") {
		t.Errorf("create with resourceVersion: exit %d %s", code, tc.errOut)
	}

	// delete: missing is an error unless skipped.
	if code := tc.exec("delete", "-f", f); code != 1 || !strings.Contains(tc.errOut.String(), "not found") {
		t.Errorf("delete of a missing resource: exit %d %s", code, tc.errOut)
	}
	if out := tc.mustExec(t, "delete", "--skip-not-exists", "-f", f); out != "deleted 0 resource(s)\n" {
		t.Errorf("skip-not-exists: %q", out)
	}
}

// TestLegacyPolicyKey checks that a policy stored under Calico v3.29-v3.31's
// "default."-prefixed key is found, updated in place and deleted under
// its plain name, and that creating the plain name over it fails.
func TestLegacyPolicyKey(t *testing.T) {
	url, cli := testEtcd(t)
	tc := newTestCtl(t, url)
	legacy := model.KeyPrefix + "globalnetworkpolicies/default.memcached-server"
	plain := model.KeyPrefix + "globalnetworkpolicies/memcached-server"
	old := strings.Replace(wantSeedGNP, `"name":"memcached-server"`, `"name":"default.memcached-server"`, 1)
	if _, err := cli.Put(context.Background(), legacy, old); err != nil {
		t.Fatal(err)
	}
	seedGNP := writeFile(t, strings.SplitN(readSeed(t), "---\n", 2)[1])
	if code := tc.exec("create", "-f", seedGNP); code != 1 || !strings.Contains(tc.errOut.String(), "already exists") {
		t.Errorf("create over the legacy key: exit %d %s", code, tc.errOut)
	}
	tc.mustExec(t, "apply", "-f", seedGNP)
	if valueAt(t, cli, plain) != "" || !strings.Contains(valueAt(t, cli, legacy), `"name":"default.memcached-server"`) {
		t.Errorf("apply did not update the legacy key in place")
	}
	out := tc.mustExec(t, "get", "gnp", "memcached-server", "-o", "json")
	if !strings.Contains(out, `"name": "default.memcached-server"`) {
		t.Errorf("get: %s", out)
	}
	tc.mustExec(t, "delete", "globalnetworkpolicy", "default.memcached-server")
	if valueAt(t, cli, legacy) != "" {
		t.Error("legacy key not deleted")
	}
}

func readSeed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGetRoundTrip checks get's output (one resource, a list, YAML and
// JSON) and that it can be applied back unchanged.
func TestGetRoundTrip(t *testing.T) {
	url, cli := testEtcd(t)
	tc := newTestCtl(t, url)
	tc.mustExec(t, "apply", "-f", "testdata/seed.yaml")
	if _, err := cli.Put(context.Background(), model.KeyPrefix+"hostendpoints/broken", `{"kind":"HostEndpoint"}`); err != nil {
		t.Fatal(err)
	}

	var one map[string]any
	if err := json.Unmarshal([]byte(tc.mustExec(t, "get", "hep", "memcached-node-1-eth0", "-o", "json")), &one); err != nil {
		t.Fatal(err)
	}
	if meta := one["metadata"].(map[string]any); meta["resourceVersion"] == nil || meta["uid"] == nil {
		t.Errorf("get one: %v", one)
	}

	list := tc.mustExec(t, "get", "hostendpoints")
	if !strings.Contains(list, "kind: HostEndpointList") || !strings.Contains(list, "name: memcached-node-1-eth0") {
		t.Errorf("list:\n%s", list)
	}
	if !strings.Contains(tc.errOut.String(), "skipping "+model.KeyPrefix+"hostendpoints/broken") {
		t.Errorf("invalid stored value not reported: %q", tc.errOut)
	}
	before := valueAt(t, cli, model.KeyPrefix+"hostendpoints/memcached-node-1-eth0")
	tc.mustExec(t, "apply", "-f", writeFile(t, list))
	if after := valueAt(t, cli, model.KeyPrefix+"hostendpoints/memcached-node-1-eth0"); after != before {
		t.Errorf("applying get's output changed the resource:\n%s\n%s", before, after)
	}
	if code := tc.exec("get", "gns", "nope"); code != 1 || !strings.Contains(tc.errOut.String(), "not found") {
		t.Errorf("get missing: %d %s", code, tc.errOut)
	}
}

// TestValidate checks that validate reports every invalid document with
// its position and the daemon's reason, reads stdin, and writes nothing.
func TestValidate(t *testing.T) {
	tc := newTestCtl(t, "http://127.0.0.1:1") // no etcd needed
	bad := readSeed(t) + "\n---\n" + strings.Replace(gns, "10.0.0.0/8", "10.0.0.0/33", 1) +
		"---\n# only a comment\n---\n" + strings.Replace(gns, "name: clients", "name: Bad_Name", 1)
	if code := tc.exec("validate", "-f", writeFile(t, bad)); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		`GlobalNetworkSet "clients" (`, `document 3): spec.nets[0]: "10.0.0.0/33" is not a valid CIDR`,
		`document 5): metadata.name: "Bad_Name" is not a valid name`, "2 of 4 resource(s) invalid",
	} {
		if !strings.Contains(tc.errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, tc.errOut)
		}
	}
	tc.in = strings.NewReader(readSeed(t))
	if out := tc.mustExec(t, "validate", "-f", "-"); out != "2 resource(s) valid\n" {
		t.Errorf("stdin: %q", out)
	}
	for body, want := range map[string]string{
		"kind: HostEndpoint\napiVersion: projectcalico.org/v3\nmetadata: {name: x}\nspec: {nodee: y}\n": `unknown field "nodee"`,
		"apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\n":                                       `kind "NetworkPolicy" is not one untrackd reads`,
		"a: [\n":      "document 1: yaml: line 1",
		"# nothing\n": "no resources",
	} {
		if code := tc.exec("validate", "-f", writeFile(t, body)); code != 1 || !strings.Contains(tc.errOut.String(), want) {
			t.Errorf("%q: exit %d %q, want %q", body, code, tc.errOut, want)
		}
	}
}

func TestReadLists(t *testing.T) {
	list := `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSetList","items":[` +
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"a"},"spec":{}},` +
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"b"},"spec":{}}]}`
	seq := "- apiVersion: projectcalico.org/v3\n  kind: GlobalNetworkSet\n  metadata: {name: c}\n"
	docs, err := readResources(writeFile(t, list+"\n---\n"+seq), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range docs {
		names = append(names, d.r.GetMeta().Name+"@"+d.src[strings.Index(d.src, "document"):])
	}
	if got := strings.Join(names, ","); got != "a@document 1 item 1,b@document 1 item 2,c@document 2" {
		t.Errorf("read %s", got)
	}
}

func TestStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := opstatus.Doc{Node: "n1", Version: "v9", Ready: false, Live: true, ReadinessProblems: []string{"datastore lost sync"},
		Datastore: opstatus.Datastore{Status: "WaitingForDatastore", Since: now},
		Dataplane: opstatus.Dataplane{LastSuccessAt: &now, Rules: 12, LastError: "EBUSY", ConsecutiveFailures: 2},
		Endpoints: []opstatus.Endpoint{{Name: "h1", Interface: "eth0", Untracked: opstatus.Policies{Ingress: []string{"a", "b"}}, AppliedAt: now}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(doc)
	}))
	defer srv.Close()
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	t.Setenv("UNTRACKD_HEALTH_PORT", port) // the daemon's setting applies
	tc := newTestCtl(t, "http://127.0.0.1:1")
	tc.http = srv.Client()
	out := tc.mustExec(t, "status", "--health-host", host)
	for _, want := range []string{"node n1, untrackd v9: ready NO, live yes", "not ready: datastore lost sync",
		"failing: EBUSY (2 attempts)", "12 rules", "h1", "a,b"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	var back opstatus.Doc
	if err := json.Unmarshal([]byte(tc.mustExec(t, "status", "-o", "json", "--health-host", host)), &back); err != nil || back.Node != "n1" {
		t.Errorf("json: %v %+v", err, back)
	}
	srv.Close()
	if code := tc.exec("status", "--health-host", host); code != 1 || !strings.Contains(tc.errOut.String(), "untrackd's status") {
		t.Errorf("daemon down: exit %d %s", code, tc.errOut)
	}
}

func TestUsage(t *testing.T) {
	tc := newTestCtl(t, "http://127.0.0.1:1")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: untrackctl"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"apply"}, 1, "apply takes -f FILE"},
		{[]string{"get"}, 1, "give KIND"},
		{[]string{"get", "tiers"}, 1, `unknown kind "tiers"`},
		{[]string{"get", "hep", "-o", "xml"}, 1, `-o "xml": want yaml or json`},
		{[]string{"delete", "hep"}, 1, "give -f FILE or KIND NAME"},
		{[]string{"apply", "--bogus"}, 2, "flag provided but not defined"},
	} {
		if code := tc.exec(c.args...); code != c.code || !strings.Contains(tc.errOut.String(), c.want) {
			t.Errorf("%v: exit %d %q, want %d %q", c.args, code, tc.errOut, c.code, c.want)
		}
	}
}
