package datastore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/model"
)

// Put validates r and stores it, encoded as Calico stores it, at
// model.Key{Kind: r.GetKind(), Name: r.GetMeta().Name}. It returns the
// revision of the write. An invalid resource is an error and is not written.
// Encoding sets r's apiVersion and kind.
func Put(ctx context.Context, cli *clientv3.Client, r model.Resource) (int64, error) {
	key := model.Key{Kind: r.GetKind(), Name: r.GetMeta().Name}
	if _, err := model.ParseKey(key.String()); err != nil {
		return 0, fmt.Errorf("put %s %q: %w", key.Kind, key.Name, err)
	}
	if err := r.Validate(); err != nil {
		return 0, fmt.Errorf("put %s %q: invalid: %w", key.Kind, key.Name, err)
	}
	data, err := model.Encode(r)
	if err != nil {
		return 0, fmt.Errorf("put %s %q: encode: %w", key.Kind, key.Name, err)
	}
	resp, err := cli.Put(ctx, key.String(), string(data))
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	return resp.Header.Revision, nil
}

// Delete removes the resource at key. It reports whether there was one;
// deleting a missing key is not an error.
func Delete(ctx context.Context, cli *clientv3.Client, key model.Key) (bool, error) {
	if _, err := model.ParseKey(key.String()); err != nil {
		return false, fmt.Errorf("delete: %w", err)
	}
	resp, err := cli.Delete(ctx, key.String())
	if err != nil {
		return false, fmt.Errorf("delete %s: %w", key, err)
	}
	return resp.Deleted > 0, nil
}
