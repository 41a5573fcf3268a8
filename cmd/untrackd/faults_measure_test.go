package main

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/untrackd/untrackd/dataplane/nft"
)

// faultTraffic is a client in the client namespace that keeps opening
// short connections to the untracked and the tracked port, alternately,
// and keeps one long-lived tracked connection exchanging a byte every 50ms.
type faultTraffic struct {
	b        *faultBed
	stopCh   chan struct{}
	wg       sync.WaitGroup
	attempts map[string]*atomic.Int64
	failures map[string]*atomic.Int64
	// long-lived connection: exchanges and failed exchanges
	longOK, longFailed atomic.Int64
	mu                 sync.Mutex
	errs               []string // "port: error", in order
}

// trafficResult is what a faultTraffic saw.
type trafficResult struct {
	attempted, failed int            // short connections, both ports
	perPort           map[string]int // failures per port
	attemptsPerPort   map[string]int
	longOK, longFail  int
	errs              []string // "port: error", in order
}

// startTraffic starts the client. Connections time out after 1s, which is
// counted as a failure.
func (b *faultBed) startTraffic() *faultTraffic {
	b.t.Helper()
	tr := &faultTraffic{b: b, stopCh: make(chan struct{}),
		attempts: map[string]*atomic.Int64{portUntracked: {}, portTracked: {}},
		failures: map[string]*atomic.Int64{portUntracked: {}, portTracked: {}}}
	long, err := dialFrom(b.cli, "", srvIP+":"+portLongLived, 5*time.Second)
	if err != nil {
		b.t.Fatalf("long-lived connection: %v", err)
	}
	tr.wg.Add(2)
	go func() {
		defer tr.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-tr.stopCh:
				return
			default:
			}
			port := portUntracked
			if i%2 == 1 {
				port = portTracked
			}
			tr.attempts[port].Add(1)
			if err := b.cli.TCPConnect(srvIP+":"+port, time.Second); err != nil {
				tr.failures[port].Add(1)
				tr.noteErr(port, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	go func() {
		defer tr.wg.Done()
		defer long.Close()
		buf := make([]byte, 1)
		for {
			select {
			case <-tr.stopCh:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if err := exchange(long, buf); err != nil {
				tr.longFailed.Add(1)
				tr.noteErr(portLongLived, err)
				continue
			}
			tr.longOK.Add(1)
		}
	}()
	return tr
}

func exchange(c net.Conn, buf []byte) error {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte{'y'}); err != nil {
		return err
	}
	if _, err := c.Read(buf); err != nil {
		return err
	}
	if buf[0] != 'y' {
		return fmt.Errorf("echo returned %q", buf[0])
	}
	return nil
}

func (tr *faultTraffic) noteErr(port string, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.errs = append(tr.errs, port+": "+err.Error())
}

// snapshot returns the counts so far.
func (tr *faultTraffic) snapshot() trafficResult {
	r := trafficResult{perPort: map[string]int{}, attemptsPerPort: map[string]int{}}
	for port, a := range tr.attempts {
		n, f := int(a.Load()), int(tr.failures[port].Load())
		r.attempted += n
		r.failed += f
		r.attemptsPerPort[port] = n
		r.perPort[port] = f
	}
	r.longOK, r.longFail = int(tr.longOK.Load()), int(tr.longFailed.Load())
	tr.mu.Lock()
	r.errs = append([]string(nil), tr.errs...)
	tr.mu.Unlock()
	return r
}

// since returns the counts accumulated after an earlier snapshot.
func (r trafficResult) since(before trafficResult) trafficResult {
	out := trafficResult{attempted: r.attempted - before.attempted, failed: r.failed - before.failed,
		perPort: map[string]int{}, attemptsPerPort: map[string]int{}, errs: r.errs[len(before.errs):],
		longOK: r.longOK - before.longOK, longFail: r.longFail - before.longFail}
	for p := range r.perPort {
		out.perPort[p] = r.perPort[p] - before.perPort[p]
		out.attemptsPerPort[p] = r.attemptsPerPort[p] - before.attemptsPerPort[p]
	}
	return out
}

// stop stops the client and returns what it saw.
func (tr *faultTraffic) stop() trafficResult {
	close(tr.stopCh)
	tr.wg.Wait()
	return tr.snapshot()
}

// String summarises the counts for a note.
func (r trafficResult) String() string {
	s := fmt.Sprintf("untracked %d/%d failed, tracked %d/%d failed, long-lived %d/%d exchanges failed",
		r.perPort[portUntracked], r.attemptsPerPort[portUntracked], r.perPort[portTracked], r.attemptsPerPort[portTracked],
		r.longFail, r.longOK+r.longFail)
	if len(r.errs) > 0 {
		s += fmt.Sprintf(" (first error: %s)", r.errs[0])
	}
	return s
}

// ruleSampler reads untrackd's table every 20ms and records the most rules
// of an expected state it ever found missing.
type ruleSampler struct {
	stopCh  chan struct{}
	done    chan struct{}
	want    *nft.TableState
	maxLost atomic.Int64
	samples atomic.Int64
	errs    atomic.Int64
}

// sampleRules starts sampling against want (normally the state before the
// fault).
func (b *faultBed) sampleRules(want *nft.TableState) *ruleSampler {
	s := &ruleSampler{stopCh: make(chan struct{}), done: make(chan struct{}), want: want}
	go func() {
		defer close(s.done)
		for {
			if n, ok := s.sample(b); !ok {
				s.errs.Add(1)
			} else {
				s.samples.Add(1)
				if int64(n) > s.maxLost.Load() {
					s.maxLost.Store(int64(n))
				}
			}
			select {
			case <-s.stopCh:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

// sample returns how many rules of want the table lacks. A listing is
// not a snapshot (a transaction committed while it runs can make it see a
// mix of two states), so a shortfall counts only when a second listing
// right after it finds the same table; ok is false if the table kept
// changing or could not be read.
func (s *ruleSampler) sample(b *faultBed) (int, bool) {
	list := func() (*nft.TableState, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return b.nl.List(ctx)
	}
	st, err := list()
	if err != nil {
		return 0, false
	}
	for range 3 {
		n := missingRules(s.want, st)
		if n == 0 {
			return 0, true
		}
		again, err := list()
		if err != nil {
			return 0, false
		}
		if canon(again) == canon(st) {
			return n, true
		}
		st = again
	}
	return 0, false
}

// stop ends sampling and returns the most rules found missing and the
// number of samples.
func (s *ruleSampler) stop() (lost, samples int) {
	close(s.stopCh)
	<-s.done
	return int(s.maxLost.Load()), int(s.samples.Load())
}
