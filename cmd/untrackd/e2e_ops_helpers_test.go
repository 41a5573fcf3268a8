package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"

	"github.com/untrackd/untrackd/dataplane/netnstest"
	"github.com/untrackd/untrackd/datastore"
)

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading
// test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// daemonProc is the real untrackd binary running in a namespace with an
// environment of the test's choosing and its output captured.
type daemonProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
	err  error // after done
}

// startDaemonIn starts bin in ns with extra environment variables. It is
// killed (its process group) when the test ends; the output is logged if
// the test failed.
func startDaemonIn(t *testing.T, ns *netnstest.NS, env []string, bin string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, bin}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	p := &daemonProc{cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start untrackd: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("untrackd output:\n%s", p.out.String())
		}
	})
	return p
}

// etcdProxy accepts etcd client connections inside a namespace and, while
// up, forwards them to an etcd outside it; while down it closes them at
// once, as if etcd were unreachable.
type etcdProxy struct {
	target string
	ln     net.Listener
	mu     sync.Mutex
	up     bool
	conns  []net.Conn
}

func startEtcdProxy(t *testing.T, ns *netnstest.NS, listen, target string) *etcdProxy {
	t.Helper()
	p := &etcdProxy{target: target}
	err := ns.Do(func() (err error) {
		p.ln, err = net.Listen("tcp", listen)
		return err
	})
	if err != nil {
		t.Fatalf("etcd proxy: %v", err)
	}
	t.Cleanup(func() { _ = p.ln.Close(); p.setUp(false) })
	go p.serve()
	return p
}

func (p *etcdProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		if up {
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		if !up {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *etcdProxy) pipe(c net.Conn) {
	u, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, u)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
	_, _ = io.Copy(c, u)
	_ = c.Close()
}

// setUp lets connections through or, when down, cuts the existing ones and
// refuses new ones.
func (p *etcdProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// rootEtcd starts an embedded etcd in the test's own namespace on free
// ports and returns a client for it and its host:port.
func rootEtcd(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	client := free()
	e, err := datastore.StartEmbedded(datastore.EmbeddedConfig{
		Dir: t.TempDir(), ClientURL: "http://" + client, PeerURL: "http://" + free(),
		Logger: zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)), UnsafeNoFsync: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: e.Endpoints(), DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli, client
}

// nsHTTP returns an HTTP client whose connections are made inside ns.
func nsHTTP(ns *netnstest.NS) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := ns.Do(func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// nsFetch GETs url and returns the status code and body; code 0 if the
// request failed.
func nsFetch(c *http.Client, url string) (int, string) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrapeText returns every sample of a Prometheus text exposition, keyed by
// its series as written: `name{label="v",...}` with labels in name order.
func scrapeText(c *http.Client, url string) (map[string]float64, error) {
	code, body := nsFetch(c, url)
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, code, body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out, nil
}

// pollFor calls cond every 50ms until it returns "" or the timeout passes, and
// fails the test with cond's last complaint.
func pollFor(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
