// Command untrackctl manages the Calico v3 resources untrackd reads
// (HostEndpoint, GlobalNetworkPolicy, GlobalNetworkSet, FelixConfiguration,
// Profile)
// in etcd, writing them as calicoctl would, and shows a node's status.
//
// Usage:
//
//	untrackctl apply    -f FILE   create or replace each resource in FILE ("-": stdin)
//	untrackctl create   -f FILE   create; fails for a resource that exists
//	untrackctl replace  -f FILE   replace; fails for a resource that does not exist
//	untrackctl delete   -f FILE | KIND NAME...
//	untrackctl get      KIND [NAME...] | -f FILE   [-o yaml|json]
//	untrackctl validate -f FILE   check as untrackd would, write nothing
//	untrackctl status   [-o text|json]   the local daemon's /status
//	untrackctl explain  --iface eth0 --src A --dst B --proto tcp --dport N
//	                              which policy and rule decide a packet, tracked or not
//	untrackctl version
//
// FILE holds YAML or JSON documents separated by "---" lines; a document may
// also be a list (a YAML sequence, or a "<Kind>List" with items). The etcd
// flags (--etcd-endpoints, --etcd-cacert, --etcd-cert, --etcd-key) and
// their UNTRACKD_* environment variables are the daemon's.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/cliconf"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	c := &ctl{in: os.Stdin, out: os.Stdout, errOut: os.Stderr, now: time.Now, uid: newUID, http: http.DefaultClient}
	code := c.run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// ctl runs one untrackctl command. Its clock, UID source and streams are
// injected for tests.
type ctl struct {
	in          io.Reader
	out, errOut io.Writer
	now         func() time.Time
	uid         func() string
	http        *http.Client
}

// errPrinted is returned by a command that has already reported its
// failure on errOut.
var errPrinted = errors.New("failed")

// run executes a command and returns the process exit code: 0 on success,
// 1 on failure, 2 on a usage error.
func (c *ctl) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		c.usage()
		return 2
	}
	cmd, args := args[0], args[1:]
	var err error
	switch cmd {
	case "apply", "create", "replace":
		err = c.write(ctx, cmd, args)
	case "delete":
		err = c.delete(ctx, args)
	case "get":
		err = c.get(ctx, args)
	case "validate":
		err = c.validate(args)
	case "status":
		err = c.status(ctx, args)
	case "explain":
		err = c.explain(ctx, args)
	case "version":
		fmt.Fprintln(c.out, "untrackctl", version)
	case "help", "-h", "--help":
		c.usage()
	default:
		fmt.Fprintf(c.errOut, "untrackctl: unknown command %q\n", cmd)
		c.usage()
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cliconf.ErrUsage):
		return 2
	case errors.Is(err, errPrinted):
		return 1
	default:
		fmt.Fprintln(c.errOut, "untrackctl:", err)
		return 1
	}
}

func (c *ctl) usage() {
	fmt.Fprint(c.errOut, `usage: untrackctl apply|create|replace -f FILE     write resources (FILE "-" is stdin)
       untrackctl delete -f FILE | KIND NAME...     delete resources
       untrackctl get KIND [NAME...] | -f FILE [-o yaml|json]
       untrackctl validate -f FILE                  check resources as untrackd would
       untrackctl status [-o text|json]             the local untrackd's status
       untrackctl explain --iface IF|--out-iface IF --src A --dst B [--proto P --dport N ...]
                                                    which policy and rule decide a packet
       untrackctl version
KIND: HostEndpoint (hep), GlobalNetworkPolicy (gnp), GlobalNetworkSet (gns),
FelixConfiguration (felixconfig), or their plurals. Run "untrackctl CMD -h"
for a command's flags.
`)
}

// newUID returns a random (version 4) UUID, as Kubernetes' and Calico's
// uuid.NewUUID do for metadata.uid.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
