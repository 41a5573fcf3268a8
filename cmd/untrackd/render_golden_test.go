package main

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/calc"
	"github.com/untrackd/untrackd/dataplane"
	"github.com/untrackd/untrackd/dataplane/nft"
	"github.com/untrackd/untrackd/dataplane/render"
	"github.com/untrackd/untrackd/model"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files in testdata/render")

// goldenNode is the node name the golden cases render for.
const goldenNode = "node1"

// goldenInterfaces are the host's interfaces in the golden cases.
var goldenInterfaces = map[string][]netip.Addr{
	"lo":   {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
	"eth0": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")},
	"eth1": {netip.MustParseAddr("192.168.1.1")},
	"eth2": {netip.MustParseAddr("172.16.0.1")},
}

// loadResources reads a multi-document YAML (or JSON) file of resources.
func loadResources(t *testing.T, path string) []model.Resource {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []model.Resource
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		r, err := model.Decode(js)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		out = append(out, r)
	}
	return out
}

// renderResources runs resources through the calculation graph and the
// dataplane driver into a fake kernel, as the daemon does, and returns the
// fake.
func renderResources(t *testing.T, rs []model.Resource, ifaces map[string][]netip.Addr) *nft.Fake {
	t.Helper()
	g := calc.NewGraph(goldenNode, nil)
	var kvs []calc.KV
	for _, r := range rs {
		kvs = append(kvs, calc.KV{Key: model.Key{Kind: r.GetKind(), Name: r.GetMeta().Name}, Value: r})
	}
	g.Apply(calc.Input{Updates: kvs, InSync: true})
	f := nft.NewFake()
	d := dataplane.NewDriver(dataplane.Options{Writer: f, Render: render.DefaultConfig()})
	d.OnInterfaces(ifaces)
	for _, m := range g.Sequencer().Flush() {
		d.OnUpdate(m)
	}
	if _, err := d.Apply(context.Background()); err != nil {
		t.Fatalf("apply: %v", err)
	}
	return f
}

// TestGoldenRenders renders every testdata/render/*.yaml through calc and
// the dataplane and compares the table with the .nft file beside it (run
// with -update to rewrite them after checking the difference).
func TestGoldenRenders(t *testing.T) {
	files, _ := filepath.Glob("testdata/render/*.yaml")
	if len(files) == 0 {
		t.Fatal("no golden cases")
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := renderResources(t, loadResources(t, in), goldenInterfaces).Dump()
			out := strings.TrimSuffix(in, ".yaml") + ".nft"
			if *updateGolden {
				if err := os.WriteFile(out, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(out)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs (run with -update after checking):\n%s", out, lineDiff(string(want), got))
			}
		})
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("- " + wl + "\n+ " + gl + "\n")
		}
	}
	return b.String()
}
