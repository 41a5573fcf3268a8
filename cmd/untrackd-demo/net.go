package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
)

// inNamespace runs fn on a locked OS thread switched into the named
// namespace. Sockets fn creates stay in that namespace.
func inNamespace(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// server is a tiny memcached stand-in: it answers "version\r\n".
type server struct{ lns []net.Listener }

func serve(ns string, addrs ...string) (*server, error) {
	s := &server{}
	for _, a := range addrs {
		var ln net.Listener
		if err := inNamespace(ns, func() (err error) { ln, err = net.Listen("tcp", a); return err }); err != nil {
			s.Close()
			return nil, fmt.Errorf("listen %s in %s: %w", a, ns, err)
		}
		s.lns = append(s.lns, ln)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					_ = c.SetDeadline(time.Now().Add(5 * time.Second))
					if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
						_, _ = c.Write([]byte("VERSION untrackd-demo\r\n"))
					}
				}()
			}
		}()
	}
	return s, nil
}

func (s *server) Close() {
	for _, ln := range s.lns {
		_ = ln.Close()
	}
}

// burst opens n short connections (connect, "version", read the reply,
// close) from the namespace to addr with 16 workers.
func burst(ctx context.Context, ns, addr string, n int) (ok, failed int, took time.Duration, err error) {
	var okN, failN atomic.Int64
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if one(ns, addr) == nil {
					okN.Add(1)
				} else {
					failN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(okN.Load()), int(failN.Load()), time.Since(start), ctx.Err()
}

func one(ns, addr string) error {
	var c net.Conn
	if err := inNamespace(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 2*time.Second)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("version\r\n")); err != nil {
		return err
	}
	_, err := bufio.NewReader(c).ReadString('\n')
	return err
}
