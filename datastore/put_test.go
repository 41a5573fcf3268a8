package datastore

import (
	"context"
	"strings"
	"testing"

	"github.com/untrackd/untrackd/model"
)

func TestPutDelete(t *testing.T) {
	t.Parallel()
	e := startEtcd(t, embeddedConfig(t))
	cli := newClient(t, e.Endpoints())
	ctx := context.Background()

	rev, err := Put(ctx, cli, hep("a", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(ctx, model.KeyPrefix+"hostendpoints/a")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || resp.Kvs[0].ModRevision != rev {
		t.Fatalf("stored %v, want one key at revision %d", resp.Kvs, rev)
	}
	r, err := model.DecodeKey(hepKey("a"), resp.Kvs[0].Value)
	if err != nil {
		t.Fatalf("stored value does not decode: %v", err)
	}
	if got := r.(*model.HostEndpoint).Spec.InterfaceName; got != "eth0" {
		t.Errorf("stored interface %q, want eth0", got)
	}

	for _, tc := range []struct {
		name string
		r    model.Resource
		want string
	}{
		{"invalid resource", hep("b", ""), "invalid"},
		{"bad name", hep("B_", "eth0"), "not a valid name"},
		{"no name", hep("", "eth0"), "must not be empty"},
	} {
		if _, err := Put(ctx, cli, tc.r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Put = %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	for _, want := range []bool{true, false} {
		deleted, err := Delete(ctx, cli, hepKey("a"))
		if err != nil || deleted != want {
			t.Errorf("Delete = %t, %v; want %t, nil", deleted, err, want)
		}
	}
}
