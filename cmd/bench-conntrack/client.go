package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/bench"
)

// The load generator runs as "bench-conntrack client" inside the client
// namespace (started by the benchmark with ip netns exec), so its sockets
// need no namespace switching. It opens short connections (connect, one
// memcached "version" request, read the reply, close with RST) from many
// goroutines and several source addresses, for a warm-up and then a
// measurement window, and reports on stdout as JSON lines:
//
//	{"event":"measure_start"}        the warm-up is over
//	{"event":"measure_end"}          the window is over (sample counters now)
//	{"event":"done","result":{...}}  clientResult
//
// The per-second counts cover warm-up and window, for the plots.

// clientResult is what the load generator reports.
type clientResult struct {
	Succeeded int64   `json:"succeeded"`
	Failed    int64   `json:"failed"`
	Seconds   float64 `json:"seconds"`
	// Errors counts failures by kind (timeout, refused, reset, other).
	Errors map[string]int64 `json:"errors"`
	// Connect latency of successful connections in the window, ms.
	P50ms  float64 `json:"p50_ms"`
	P90ms  float64 `json:"p90_ms"`
	P99ms  float64 `json:"p99_ms"`
	P999ms float64 `json:"p999_ms"`
	MaxMs  float64 `json:"max_ms"`
	// Histogram of those latencies: Counts[i] in [Bounds[i], Bounds[i+1]) ms.
	Hist bench.Histogram `json:"hist"`
	// PerSecond are successful and failed completions in each second since
	// the start (warm-up included); WarmupSeconds marks the window's start.
	OKPerSecond   []int64 `json:"ok_per_second"`
	FailPerSecond []int64 `json:"fail_per_second"`
	WarmupSeconds int     `json:"warmup_seconds"`
}

type clientConfig struct {
	addr      string
	sources   []string
	workers   int
	warmup    time.Duration
	duration  time.Duration
	rate      float64 // connections per second; 0: as fast as possible
	timeout   time.Duration
	request   string
	expectPfx string
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	var c clientConfig
	var sources string
	fs.StringVar(&c.addr, "addr", "", "server address:port")
	fs.StringVar(&sources, "sources", "", "comma-separated source addresses")
	fs.IntVar(&c.workers, "workers", 64, "concurrent connections")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Second, "warm-up")
	fs.DurationVar(&c.duration, "duration", 15*time.Second, "measurement window")
	fs.Float64Var(&c.rate, "rate", 0, "target connections per second (0: unlimited)")
	fs.DurationVar(&c.timeout, "timeout", 2*time.Second, "per-connection timeout (connect + request)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c.sources = strings.Split(sources, ",")
	c.request, c.expectPfx = "version\r\n", "VERSION"
	res, err := runClient(context.Background(), c, func(ev string) {
		fmt.Printf("{\"event\":%q}\n", ev)
	})
	if err != nil {
		return err
	}
	b, err := json.Marshal(struct {
		Event  string        `json:"event"`
		Result *clientResult `json:"result"`
	}{"done", res})
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// sample is one finished connection attempt.
type sample struct {
	end     time.Time
	connect time.Duration
	err     error
}

func runClient(ctx context.Context, c clientConfig, event func(string)) (*clientResult, error) {
	dialers := make([]*net.Dialer, len(c.sources))
	for i, s := range c.sources {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("bad source address %q", s)
		}
		dialers[i] = &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: c.timeout}
	}
	start := time.Now()
	mStart := start.Add(c.warmup)
	mEnd := mStart.Add(c.duration)
	ctx, cancel := context.WithDeadline(ctx, mEnd)
	defer cancel()
	secs := int((c.warmup+c.duration)/time.Second) + 2
	okPer, failPer := make([]atomic.Int64, secs), make([]atomic.Int64, secs)

	var tokens chan struct{}
	if c.rate > 0 {
		tokens = make(chan struct{}, c.workers)
		go pace(ctx, c.rate, tokens)
	}
	perWorker := make([][]sample, c.workers)
	var wg sync.WaitGroup
	for w := 0; w < c.workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := dialers[w%len(dialers)]
			var mine []sample
			buf := make([]byte, 256)
			for ctx.Err() == nil {
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						continue
					}
				}
				s := oneConn(ctx, d, c, buf)
				if s.err != nil && ctx.Err() != nil {
					break // cut short by the end of the window: not a result
				}
				sec := int(s.end.Sub(start) / time.Second)
				if sec >= 0 && sec < secs {
					if s.err == nil {
						okPer[sec].Add(1)
					} else {
						failPer[sec].Add(1)
					}
				}
				if !s.end.Before(mStart) && s.end.Before(mEnd) {
					mine = append(mine, s)
				}
			}
			perWorker[w] = mine
		}()
	}
	go func() {
		select {
		case <-time.After(time.Until(mStart)):
			event("measure_start")
		case <-ctx.Done():
		}
	}()
	<-ctx.Done()
	event("measure_end")
	wg.Wait()

	res := &clientResult{Seconds: c.duration.Seconds(), Errors: map[string]int64{}, WarmupSeconds: int(c.warmup / time.Second)}
	var lat []time.Duration
	for _, ss := range perWorker {
		for _, s := range ss {
			if s.err != nil {
				res.Failed++
				res.Errors[errKind(s.err)]++
				continue
			}
			res.Succeeded++
			lat = append(lat, s.connect)
		}
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return bench.Quantile(lat, q).Seconds() * 1000 }
	res.P50ms, res.P90ms, res.P99ms, res.P999ms, res.MaxMs = ms(0.50), ms(0.90), ms(0.99), ms(0.999), ms(1)
	res.Hist = bench.LogHistogram(lat, 0.01, 10000, 10)
	n := int((mEnd.Sub(start) + time.Second - 1) / time.Second)
	for i := 0; i < n && i < secs; i++ {
		res.OKPerSecond = append(res.OKPerSecond, okPer[i].Load())
		res.FailPerSecond = append(res.FailPerSecond, failPer[i].Load())
	}
	return res, nil
}

// pace puts rate tokens per second into out (open loop: the schedule does
// not slow down when the server does; tokens beyond the channel's room are
// dropped and show as a lower rate).
func pace(ctx context.Context, rate float64, out chan<- struct{}) {
	const tick = time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	sent := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			due := now.Sub(start).Seconds() * rate
			for sent+1 <= due {
				sent++
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}
}

// oneConn connects, sends the request, reads the one-line reply and closes
// with RST (SO_LINGER 0) so that the client keeps no TIME_WAIT socket.
func oneConn(ctx context.Context, d *net.Dialer, c clientConfig, buf []byte) sample {
	t0 := time.Now()
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	s := sample{connect: time.Since(t0)}
	if err != nil {
		s.end, s.err = time.Now(), err
		return s
	}
	tc := conn.(*net.TCPConn)
	_ = tc.SetLinger(0)
	_ = tc.SetDeadline(t0.Add(c.timeout))
	s.err = exchange(tc, c, buf)
	_ = tc.Close()
	s.end = time.Now()
	return s
}

func exchange(c *net.TCPConn, cfg clientConfig, buf []byte) error {
	if _, err := io.WriteString(c, cfg.request); err != nil {
		return err
	}
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			if !bytes.HasPrefix(buf[:n], []byte(cfg.expectPfx)) {
				return fmt.Errorf("unexpected reply %q", buf[:i])
			}
			return nil
		}
		if err != nil {
			return err
		}
		if n == len(buf) {
			return errors.New("reply line too long")
		}
	}
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "connection reset"):
		return "reset"
	case strings.Contains(err.Error(), "cannot assign requested address"):
		return "no_port"
	default:
		return "other"
	}
}
