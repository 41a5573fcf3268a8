package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	"sigs.k8s.io/yaml"

	"github.com/untrackd/untrackd/model"
)

// get prints resources: every one of KIND, the named ones, or those of -f.
// One resource prints as itself, several as a "<Kind>List" (or "List" for
// mixed kinds) as calicoctl prints them; metadata.resourceVersion is the
// etcd mod revision. A stored value untrackd would reject is reported on
// stderr and skipped when listing, an error when named.
func (c *ctl) get(ctx context.Context, args []string) error {
	f, err := c.parse("get", args, false, func(f *commandFlags) {
		f.fs.StringVar(&f.output, "o", "yaml", "output format: yaml or json")
		f.fs.StringVar(&f.output, "output", "yaml", "same as -o")
	})
	if err != nil {
		return err
	}
	if f.output != "yaml" && f.output != "json" {
		return fmt.Errorf("-o %q: want yaml or json", f.output)
	}
	var named []doc
	var kind model.Kind
	switch {
	case f.file != "" || len(f.args) > 1:
		if named, err = c.targets(f); err != nil {
			return err
		}
	case len(f.args) == 1:
		if kind, err = model.ParseKind(f.args[0]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("give KIND [NAME...] or -f FILE")
	}
	cli, err := f.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	var items []model.Resource
	var rev int64
	if named != nil {
		for _, d := range named {
			r, err := getOne(ctx, cli, keyOf(d.r.GetKind(), d.r.GetMeta().Name))
			if err != nil {
				return fmt.Errorf("get %s: %w", identity(d), err)
			}
			items = append(items, r)
		}
	} else if items, rev, err = c.list(ctx, cli, kind); err != nil {
		return err
	}
	return c.print(items, kind, rev, f.output, named != nil && len(named) == 1)
}

// getOne reads and decodes one resource, with its resourceVersion set.
func getOne(ctx context.Context, cli *clientv3.Client, key model.Key) (model.Resource, error) {
	cur, err := lookup(ctx, cli, key)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, errNotFound
	}
	r, err := model.DecodeKey(cur.key, cur.value)
	if err != nil {
		return nil, fmt.Errorf("stored value at %s is invalid (untrackd ignores it): %w", cur.key, err)
	}
	r.GetMeta().ResourceVersion = strconv.FormatInt(cur.modRev, 10)
	return r, nil
}

// list reads every resource of kind at one revision.
func (c *ctl) list(ctx context.Context, cli *clientv3.Client, kind model.Kind) ([]model.Resource, int64, error) {
	prefix := model.KindPrefix(kind)
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
	}
	var out []model.Resource
	for _, kv := range resp.Kvs {
		key, err := model.ParseKey(string(kv.Key))
		if err == nil {
			var r model.Resource
			if r, err = model.DecodeKey(key, kv.Value); err == nil {
				r.GetMeta().ResourceVersion = strconv.FormatInt(kv.ModRevision, 10)
				out = append(out, r)
				continue
			}
		}
		fmt.Fprintf(c.errOut, "skipping %s: untrackd ignores it: %v\n", kv.Key, err)
	}
	return out, resp.Header.Revision, nil
}

// print writes one resource, or a list of them, as YAML or JSON.
func (c *ctl) print(items []model.Resource, kind model.Kind, rev int64, format string, single bool) error {
	raw := make([]json.RawMessage, len(items))
	for i, r := range items {
		b, err := model.Encode(r)
		if err != nil {
			return err
		}
		raw[i] = b
	}
	var v any
	if single {
		v = raw[0]
	} else {
		listKind := "List"
		if kind != "" {
			listKind = string(kind) + "List"
		}
		meta := map[string]string{}
		if rev > 0 {
			meta["resourceVersion"] = strconv.FormatInt(rev, 10)
		}
		v = struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Items      []json.RawMessage `json:"items"`
			Metadata   map[string]string `json:"metadata"`
		}{model.APIVersion, listKind, raw, meta}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if format == "yaml" {
		if out, err = yaml.JSONToYAML(out); err != nil {
			return err
		}
	} else {
		out = append(out, '\n')
	}
	_, err = c.out.Write(out)
	return err
}
