// Command untrackd is the node daemon: it watches Calico v3 resources in etcd
// and programs this host's untracked (doNotTrack) host-endpoint policy as
// nftables rules in the table "inet untrackd".
//
// Usage:
//
//	untrackd [run] [flags]   run the daemon (the default)
//	untrackd cleanup         remove everything untrackd created in the kernel
//	untrackd version         print the version
//
// Every flag has an environment equivalent (--etcd-endpoints is
// UNTRACKD_ETCD_ENDPOINTS) and a config-file key (etcdEndpoints, in the
// YAML file given with --config-file). A flag wins over the environment,
// which wins over the file; FelixConfiguration resources fill in the
// settings they know that none of these set. See docs/configuration.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes a subcommand and returns the process exit code.
func run(args []string) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		err = runDaemon(ctx, args)
	case "cleanup":
		err = runCleanup(ctx, args)
	case "version":
		fmt.Println("untrackd", version)
	case "help", "-h", "--help":
		usage()
	default:
		fmt.Fprintf(os.Stderr, "untrackd: unknown command %q\n", cmd)
		usage()
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(os.Stderr, "untrackd:", err)
		return 1
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: untrackd [run] [flags]    run the daemon
       untrackd cleanup          remove untrackd's nftables table
       untrackd version
Run "untrackd run -h" for the flags; docs/configuration.md and
docs/operations.md describe configuration, health, metrics and systemd.
`)
}
