package datastore

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/untrackd/untrackd/model"
)

// freeURL returns a scheme://127.0.0.1:port URL on a port that was free a
// moment ago.
// Tests in other packages run in parallel, so fixed ports would collide.
func freeURL(t *testing.T, scheme string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprintf("%s://%s", scheme, l.Addr())
}

// embeddedConfig returns a config for a fresh etcd in a temporary directory.
func embeddedConfig(t *testing.T) EmbeddedConfig {
	return EmbeddedConfig{
		Dir:           t.TempDir(),
		ClientURL:     freeURL(t, "http"),
		PeerURL:       freeURL(t, "http"),
		Logger:        zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)),
		UnsafeNoFsync: true,
	}
}

// startEtcd starts an embedded etcd and closes it when the test ends.
func startEtcd(t *testing.T, cfg EmbeddedConfig) *Embedded {
	t.Helper()
	e, err := StartEmbedded(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// newClient returns a client for endpoints, closed when the test ends
// (before the etcd servers the test started, which were started earlier).
func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := NewClient(Config{Endpoints: endpoints, DialTimeout: 2 * time.Second}, zaptest.NewLogger(t, zaptest.Level(zapcore.ErrorLevel)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// testOptions are fast SyncerOptions for tests.
func testOptions(log *zap.Logger) SyncerOptions {
	return SyncerOptions{
		Logger:             log,
		BackoffMin:         20 * time.Millisecond,
		BackoffMax:         200 * time.Millisecond,
		RequestTimeout:     500 * time.Millisecond,
		WatchCheckInterval: 200 * time.Millisecond,
	}
}

// collector runs a Syncer and applies its Batches to a map, as a consumer
// would, recording everything it received.
type collector struct {
	mu      sync.Mutex
	state   map[model.Key]model.Resource
	batches []Batch
	status  Status
	stop    func()
}

// runSyncer starts s.Run with a collector. The syncer is stopped (and Run's
// return checked) by c.stop, which runs at the latest when the test ends.
// Stop it before closing etcd: etcd waits several seconds for open watches.
func runSyncer(t *testing.T, s *Syncer) *collector {
	t.Helper()
	c := &collector{state: map[model.Key]model.Resource{}}
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, out) }()
	go func() {
		for {
			select {
			case b := <-out:
				c.apply(b)
			case <-ctx.Done():
				return
			}
		}
	}()
	c.stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	t.Cleanup(c.stop)
	return c
}

func (c *collector) apply(b Batch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, b)
	c.status = b.Status
	for _, u := range b.Updates {
		if u.Value == nil {
			delete(c.state, u.Key)
		} else {
			c.state[u.Key] = u.Value
		}
	}
}

// waitFor polls cond (called with the collector locked) until it holds.
func (c *collector) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("timed out after %s waiting for %s; status %s, %d batches, state %v", timeout, what, c.status, len(c.batches), c.names())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *collector) waitStatus(t *testing.T, st Status) {
	t.Helper()
	c.waitFor(t, 15*time.Second, "status "+st.String(), func() bool { return c.status == st })
}

// mark returns the number of batches so far, to look at later ones with since.
func (c *collector) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.batches)
}

// since returns the batches received after mark.
func (c *collector) since(mark int) []Batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Batch(nil), c.batches[mark:]...)
}

// names lists the state's keys as "kind/name" (collector locked).
func (c *collector) names() []string {
	var out []string
	for k := range c.state {
		out = append(out, string(k.Kind)+"/"+k.Name)
	}
	return out
}

// updates flattens batches into their updates.
func updates(bs []Batch) []Update {
	var out []Update
	for _, b := range bs {
		out = append(out, b.Updates...)
	}
	return out
}

// updateKeys returns "name" or "name=nil" per update, in order.
func updateKeys(us []Update) []string {
	var out []string
	for _, u := range us {
		s := u.Key.Name
		if u.Value == nil {
			s += "=nil"
		}
		out = append(out, s)
	}
	return out
}

func hep(name, iface string) *model.HostEndpoint {
	return &model.HostEndpoint{
		Metadata: model.ObjectMeta{Name: name, Labels: map[string]string{"role": "test"}},
		Spec:     model.HostEndpointSpec{Node: "node1", InterfaceName: iface},
	}
}

func netSet(name string, nets ...string) *model.GlobalNetworkSet {
	return &model.GlobalNetworkSet{
		Metadata: model.ObjectMeta{Name: name},
		Spec:     model.GlobalNetworkSetSpec{Nets: nets},
	}
}

func mustPut(t *testing.T, cli *clientv3.Client, r model.Resource) int64 {
	t.Helper()
	rev, err := Put(context.Background(), cli, r)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func mustPutRaw(t *testing.T, cli *clientv3.Client, key, value string) int64 {
	t.Helper()
	resp, err := cli.Put(context.Background(), key, value)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func mustDelete(t *testing.T, cli *clientv3.Client, key model.Key) {
	t.Helper()
	if _, err := Delete(context.Background(), cli, key); err != nil {
		t.Fatal(err)
	}
}

// txn applies ops in one transaction (at most 128, etcd's default limit).
func txn(t *testing.T, cli *clientv3.Client, ops ...clientv3.Op) {
	t.Helper()
	if _, err := cli.Txn(context.Background()).Then(ops...).Commit(); err != nil {
		t.Fatal(err)
	}
}

// metricValue returns the value of a gauge or counter.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Counter != nil:
		return d.Counter.GetValue()
	}
	t.Fatalf("metric %v is neither gauge nor counter", m.Desc())
	return 0
}

func hepKey(name string) model.Key { return model.Key{Kind: model.KindHostEndpoint, Name: name} }

// observedLogger returns a logger that records level and above, and also
// writes info and above to the test log.
func observedLogger(t *testing.T, level zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	tl := zaptest.NewLogger(t, zaptest.Level(zapcore.InfoLevel))
	return zap.New(zapcore.NewTee(core, tl.Core())), logs
}

// proxy is a TCP proxy that can cut every connection and refuse new ones
// until resumed, to break a client's connection without stopping etcd.
type proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	paused bool
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.pause()
	})
	return p
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.paused {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		go p.pipe(c, u)
		go p.pipe(u, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// pause closes every open connection and refuses new ones.
func (p *proxy) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
}
