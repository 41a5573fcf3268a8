package bench

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// KeyPrefix is where Calico stores v3 resources in etcd.
const KeyPrefix = "/calico/resources/v3/projectcalico.org/"

// EtcdClient returns an etcd client whose connections are made inside ns,
// where etcd listens on endpoint (e.g. 127.0.0.1:2379 in that namespace).
func EtcdClient(ns *NS, endpoint string) (*clientv3.Client, error) {
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}
	return clientv3.New(clientv3.Config{
		Endpoints:          []string{endpoint},
		DialTimeout:        20 * time.Second,
		DialOptions:        []grpc.DialOption{grpc.WithContextDialer(dial)},
		MaxCallSendMsgSize: 8 << 20,
	})
}

// Put writes one resource, as "etcdctl put" would.
func Put(ctx context.Context, cli *clientv3.Client, key, value string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, key, value); err != nil {
		return fmt.Errorf("etcd put %s: %w", key, err)
	}
	return nil
}

// WaitEtcd waits until etcd answers in ns.
func WaitEtcd(ctx context.Context, cli *clientv3.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Get(c, "health-probe")
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("etcd not answering after %v: %w", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// NftTable returns `nft list table inet <name>` in ns ("" if absent).
func NftTable(ns *NS, name string) string {
	out, err := ns.Exec("nft", "list", "table", "inet", name)
	if err != nil {
		return ""
	}
	return out
}

// Nft runs nft with the given script (nft -f -) in ns.
func Nft(ns *NS, script string) error {
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft -f in %s: %v: %s\nscript:\n%s", ns.Name, err, out, script)
	}
	return nil
}

// WaitFor polls cond every interval until it holds or timeout passes.
func WaitFor(ctx context.Context, what string, timeout, interval time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
	return nil
}

// StopDaemon stops an untrackd (SIGTERM; it leaves its rules in place).
func StopDaemon(p *Proc) {
	if p != nil {
		p.Stop(syscall.SIGTERM, 10*time.Second)
	}
}
