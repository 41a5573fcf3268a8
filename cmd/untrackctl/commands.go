package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/untrackd/untrackd/cmd/internal/cliconf"
	"github.com/untrackd/untrackd/cmd/internal/etcdflags"
	"github.com/untrackd/untrackd/datastore"
	"github.com/untrackd/untrackd/model"
)

// commandFlags are the flags a command may take.
type commandFlags struct {
	fs            *flag.FlagSet
	etcd          *etcdflags.Flags
	file          string
	output        string
	timeout       time.Duration
	skipNotExists bool
	origins       *cliconf.Origins
	args          []string
}

// parse defines the etcd flags (unless noEtcd), -f/--filename and
// --timeout, lets define add the command's own, and parses args. The
// UNTRACKD_* environment applies to the etcd flags and --health-host and
// --health-port, as for the daemon.
func (c *ctl) parse(name string, args []string, noEtcd bool, define func(*commandFlags)) (*commandFlags, error) {
	f := &commandFlags{fs: flag.NewFlagSet("untrackctl "+name, flag.ContinueOnError)}
	f.fs.SetOutput(c.errOut)
	if !noEtcd {
		f.etcd = etcdflags.Register(f.fs)
		f.fs.StringVar(&f.file, "f", "", "file of resources (YAML or JSON, \"-\" for stdin)")
		f.fs.StringVar(&f.file, "filename", "", "same as -f")
	}
	f.fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "bound on the whole command")
	if define != nil {
		define(f)
	}
	env := func(n string) bool {
		switch n {
		case "etcd-endpoints", "etcd-cacert", "etcd-cert", "etcd-key", "health-host", "health-port":
			return true
		}
		return false
	}
	o, pos, err := cliconf.ParseInterspersed(f.fs, args, env)
	if err != nil {
		return nil, err
	}
	f.origins, f.args = o, pos
	return f, nil
}

// client connects to etcd as the flags say.
func (f *commandFlags) client() (*clientv3.Client, error) {
	if err := f.etcd.Validate(f.origins); err != nil {
		return nil, err
	}
	return datastore.NewClient(f.etcd.Config(), zap.NewNop())
}

// identity names a resource in messages: `GlobalNetworkPolicy "x" (f.yaml document 2)`.
func identity(d doc) string {
	return fmt.Sprintf("%s %q (%s)", d.r.GetKind(), d.r.GetMeta().Name, d.src)
}

// write runs apply, create or replace on every resource of -f, in order,
// stopping at the first failure. Every resource is read and decoded first,
// so that a bad document writes nothing.
func (c *ctl) write(ctx context.Context, cmd string, args []string) error {
	f, err := c.parse(cmd, args, false, nil)
	if err != nil {
		return err
	}
	if f.file == "" || len(f.args) > 0 {
		return fmt.Errorf("%s takes -f FILE and no arguments", cmd)
	}
	docs, err := readResources(f.file, c.in)
	if err != nil {
		return err
	}
	cli, err := f.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	op := map[string]func(context.Context, *clientv3.Client, model.Resource) error{"apply": c.apply, "create": c.create, "replace": c.replace}[cmd]
	past := map[string]string{"apply": "applied", "create": "created", "replace": "replaced"}[cmd]
	for i, d := range docs {
		if err := op(ctx, cli, d.r); err != nil {
			if i > 0 {
				fmt.Fprintf(c.errOut, "%s %d of %d resource(s)\n", past, i, len(docs))
			}
			return fmt.Errorf("%s %s: %w", cmd, identity(d), err)
		}
	}
	fmt.Fprintf(c.out, "%s %d resource(s)\n", past, len(docs))
	return nil
}

// delete deletes the resources of -f, or KIND NAME...
func (c *ctl) delete(ctx context.Context, args []string) error {
	f, err := c.parse("delete", args, false, func(f *commandFlags) {
		f.fs.BoolVar(&f.skipNotExists, "skip-not-exists", false, "do not fail for a resource that does not exist")
	})
	if err != nil {
		return err
	}
	targets, err := c.targets(f)
	if err != nil {
		return err
	}
	cli, err := f.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	deleted := 0
	for _, d := range targets {
		err := remove(ctx, cli, keyOf(d.r.GetKind(), d.r.GetMeta().Name), d.r.GetMeta().ResourceVersion)
		switch {
		case errors.Is(err, errNotFound) && f.skipNotExists:
		case err != nil:
			return fmt.Errorf("delete %s: %w", identity(d), err)
		default:
			deleted++
		}
	}
	fmt.Fprintf(c.out, "deleted %d resource(s)\n", deleted)
	return nil
}

// targets returns the resources named by -f, or by KIND NAME... (with
// only kind and name set).
func (c *ctl) targets(f *commandFlags) ([]doc, error) {
	if f.file != "" {
		if len(f.args) > 0 {
			return nil, errors.New("give -f FILE or KIND NAME..., not both")
		}
		return readResources(f.file, c.in)
	}
	if len(f.args) < 2 {
		return nil, errors.New("give -f FILE or KIND NAME...")
	}
	kind, err := model.ParseKind(f.args[0])
	if err != nil {
		return nil, err
	}
	var out []doc
	for _, name := range f.args[1:] {
		r := model.New(kind)
		r.GetMeta().Name = name
		out = append(out, doc{src: "command line", r: r})
	}
	return out, nil
}

// validate checks every resource of -f exactly as untrackd checks what it
// reads from etcd, after the defaulting create applies, and reports every
// problem. It writes nothing and needs no etcd.
func (c *ctl) validate(args []string) error {
	f, err := c.parse("validate", args, false, nil)
	if err != nil {
		return err
	}
	if f.file == "" || len(f.args) > 0 {
		return errors.New("validate takes -f FILE and no arguments")
	}
	docs, err := readResources(f.file, c.in)
	if err != nil {
		return err
	}
	bad := 0
	for _, d := range docs {
		d.r.GetMeta().ResourceVersion = ""
		key, err := c.prepareCreate(d.r)
		if err == nil {
			_, err = encodeChecked(key, d.r)
		}
		if err != nil {
			bad++
			fmt.Fprintf(c.errOut, "%s: %v\n", identity(d), err)
		}
	}
	if bad > 0 {
		fmt.Fprintf(c.errOut, "%d of %d resource(s) invalid\n", bad, len(docs))
		return errPrinted
	}
	fmt.Fprintf(c.out, "%d resource(s) valid\n", len(docs))
	return nil
}
