package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/untrackd/untrackd/model"
)

// Errors of the write operations, wrapped with the resource's identity.
var (
	errExists   = errors.New("already exists")
	errNotFound = errors.New("not found")
	errConflict = errors.New("changed concurrently or resourceVersion out of date")
)

// maxAttempts bounds retries of a write that raced with another writer.
const maxAttempts = 5

// keyOf returns where a resource is stored: its kind and name, a
// default-tier policy's name without the "default." prefix (as Calico
// v3.32 and later store it).
func keyOf(k model.Kind, name string) model.Key {
	if k == model.KindGlobalNetworkPolicy {
		name, _ = model.NormalizePolicyName(name)
	}
	return model.Key{Kind: k, Name: name}
}

// candidateKeys are the keys a resource may be stored under: its own and,
// for a default-tier policy, the "default."-prefixed one Calico v3.29.0 to
// v3.31 wrote. untrackd reads both as the same policy.
func candidateKeys(key model.Key) []model.Key {
	keys := []model.Key{key}
	if key.Kind == model.KindGlobalNetworkPolicy {
		keys = append(keys, model.Key{Kind: key.Kind, Name: model.DefaultTier + "." + key.Name})
	}
	return keys
}

// stored is a resource as found in etcd.
type stored struct {
	key    model.Key
	value  []byte
	modRev int64
}

// lookup returns the stored resource for key (under any candidate key), or
// nil if there is none.
func lookup(ctx context.Context, cli *clientv3.Client, key model.Key) (*stored, error) {
	for _, k := range candidateKeys(key) {
		resp, err := cli.Get(ctx, k.String())
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", k, err)
		}
		if len(resp.Kvs) > 0 {
			kv := resp.Kvs[0]
			return &stored{key: k, value: kv.Value, modRev: kv.ModRevision}, nil
		}
	}
	return nil, nil
}

// encodeChecked encodes r for key and checks the value exactly as untrackd
// checks what it reads: a valid key, the size limit, strict decoding and
// validation (model.DecodeKey). r is validated first, so that an error names
// the field rather than the key.
func encodeChecked(key model.Key, r model.Resource) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if _, err := model.ParseKey(key.String()); err != nil {
		return nil, err
	}
	data, err := model.Encode(r)
	if err != nil {
		return nil, err
	}
	if len(data) > model.MaxValueBytes {
		return nil, fmt.Errorf("encoded resource is %d bytes, at most %d allowed", len(data), model.MaxValueBytes)
	}
	if _, err := model.DecodeKey(key, data); err != nil {
		return nil, err
	}
	return data, nil
}

// prepareCreate makes r what calicoctl create stores: metadata reduced to
// name, namespace, labels and annotations, then a creationTimestamp and a
// new uid; a policy's name without "default." and its types defaulted. A
// resourceVersion is an error, as in calicoctl.
func (c *ctl) prepareCreate(r model.Resource) (model.Key, error) {
	m := r.GetMeta()
	key := keyOf(r.GetKind(), m.Name)
	if m.ResourceVersion != "" {
		return key, errors.New("metadata.resourceVersion must not be set to create a resource")
	}
	ts := c.now().UTC().Format(time.RFC3339)
	*m = model.ObjectMeta{Name: key.Name, Namespace: m.Namespace, Labels: m.Labels, Annotations: m.Annotations,
		UID: c.uid(), CreationTimestamp: &ts}
	defaultSpec(r)
	return key, nil
}

// prepareReplace makes r what calicoctl replace stores over cur: the stored
// metadata (uid, creationTimestamp, ...) with r's labels and annotations,
// no resourceVersion; a policy's types defaulted. The stored value's
// metadata is read leniently, so that an invalid stored resource can be
// replaced.
func prepareReplace(r model.Resource, cur *stored) {
	var old struct {
		Metadata model.ObjectMeta `json:"metadata"`
	}
	_ = json.Unmarshal(cur.value, &old)
	m := r.GetMeta()
	meta := old.Metadata
	meta.Name = cur.key.Name
	meta.Labels, meta.Annotations = m.Labels, m.Annotations
	meta.ResourceVersion, meta.SelfLink = "", ""
	*m = meta
	defaultSpec(r)
}

// defaultSpec applies Calico's defaulting: a policy's types.
func defaultSpec(r model.Resource) {
	if p, ok := r.(*model.GlobalNetworkPolicy); ok && len(p.Spec.Types) == 0 {
		p.Spec.Types = p.Spec.EffectiveTypes()
	}
}

// create stores r if no resource of its kind and name exists, in one etcd
// transaction conditional on every candidate key being absent.
func (c *ctl) create(ctx context.Context, cli *clientv3.Client, r model.Resource) error {
	key, err := c.prepareCreate(r)
	if err != nil {
		return err
	}
	data, err := encodeChecked(key, r)
	if err != nil {
		return err
	}
	var absent []clientv3.Cmp
	for _, k := range candidateKeys(key) {
		absent = append(absent, clientv3.Compare(clientv3.CreateRevision(k.String()), "=", 0))
	}
	resp, err := cli.Txn(ctx).If(absent...).Then(clientv3.OpPut(key.String(), string(data))).Commit()
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if !resp.Succeeded {
		return errExists
	}
	return nil
}

// replace stores r over the existing resource, in a transaction
// conditional on its mod revision. With a resourceVersion in r, that must
// be the stored one (no retry); without, a concurrent change is retried.
func (c *ctl) replace(ctx context.Context, cli *clientv3.Client, r model.Resource) error {
	want := r.GetMeta().ResourceVersion
	key := keyOf(r.GetKind(), r.GetMeta().Name)
	for range maxAttempts {
		cur, err := lookup(ctx, cli, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return errNotFound
		}
		ok, err := c.replaceAt(ctx, cli, r, cur, want)
		if err != nil || ok {
			return err
		}
		if want != "" {
			return errConflict
		}
	}
	return errConflict
}

// replaceAt writes r over cur if cur is still current; false if it is not.
func (c *ctl) replaceAt(ctx context.Context, cli *clientv3.Client, r model.Resource, cur *stored, want string) (bool, error) {
	if want != "" && want != strconv.FormatInt(cur.modRev, 10) {
		return false, fmt.Errorf("%w: resourceVersion %s, stored %d", errConflict, want, cur.modRev)
	}
	prepareReplace(r, cur)
	data, err := encodeChecked(cur.key, r)
	if err != nil {
		return false, err
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(cur.key.String()), "=", cur.modRev)).
		Then(clientv3.OpPut(cur.key.String(), string(data))).Commit()
	if err != nil {
		return false, fmt.Errorf("put %s: %w", cur.key, err)
	}
	return resp.Succeeded, nil
}

// apply creates r, or replaces it if it exists, retrying races.
func (c *ctl) apply(ctx context.Context, cli *clientv3.Client, r model.Resource) error {
	want := r.GetMeta().ResourceVersion
	key := keyOf(r.GetKind(), r.GetMeta().Name)
	for range maxAttempts {
		cur, err := lookup(ctx, cli, key)
		if err != nil {
			return err
		}
		if cur == nil {
			r.GetMeta().ResourceVersion = ""
			if err := c.create(ctx, cli, r); !errors.Is(err, errExists) {
				return err
			}
			continue
		}
		ok, err := c.replaceAt(ctx, cli, r, cur, want)
		if err != nil || ok {
			return err
		}
	}
	return errConflict
}

// remove deletes the resource of key (under whichever candidate keys hold
// it) in one transaction conditional on the mod revision found; with a
// resourceVersion, that must be the stored one.
func remove(ctx context.Context, cli *clientv3.Client, key model.Key, want string) error {
	for range maxAttempts {
		cur, err := lookup(ctx, cli, key)
		if err != nil {
			return err
		}
		if cur == nil {
			return errNotFound
		}
		if want != "" && want != strconv.FormatInt(cur.modRev, 10) {
			return fmt.Errorf("%w: resourceVersion %s, stored %d", errConflict, want, cur.modRev)
		}
		var ops []clientv3.Op
		for _, k := range candidateKeys(key) {
			ops = append(ops, clientv3.OpDelete(k.String()))
		}
		resp, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(cur.key.String()), "=", cur.modRev)).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("delete %s: %w", cur.key, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return errConflict
}
