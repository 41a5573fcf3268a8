package netnstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// The sockets below are created inside the namespace (by Do) and then used
// from ordinary goroutines: a socket keeps the namespace it was created in.

// TCPServe listens on addr ("ip:port") inside the namespace and serves every
// connection in the background: it reads one byte, writes it back and
// closes. The listener is closed, and the server goroutines ended, at
// cleanup.
func (ns *NS) TCPServe(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("netnstest: listen tcp %s in %s: %v", addr, ns.Name, err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var b [1]byte
				if _, err := io.ReadFull(c, b[:]); err == nil {
					_, _ = c.Write(b[:])
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
}

// TCPConnect dials addr from inside the namespace, sends one byte, waits
// for it to come back and closes. The whole exchange is bounded by timeout.
func (ns *NS) TCPConnect(addr string, timeout time.Duration) error {
	return ns.TCPConnectFrom("", addr, timeout)
}

// TCPConnectFrom is TCPConnect with the given local source address ("" for
// any), which must be an address of the namespace.
func (ns *NS) TCPConnectFrom(src, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	if src != "" {
		ip := net.ParseIP(src)
		if ip == nil {
			return fmt.Errorf("netnstest: bad source address %q", src)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = d.Dial("tcp", addr)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	return echo(c, deadline)
}

func echo(c net.Conn, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := c.Write([]byte{'x'}); err != nil {
		return err
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return err
	}
	if b[0] != 'x' {
		return errors.New("netnstest: echo server returned the wrong byte")
	}
	return nil
}

// UDPServe listens on addr inside the namespace and echoes every datagram
// back to its sender until cleanup.
func (ns *NS) UDPServe(t testing.TB, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := ns.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	}); err != nil {
		t.Fatalf("netnstest: listen udp %s in %s: %v", addr, ns.Name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return // closed at cleanup
			}
			_, _ = pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
	})
}

// UDPExchange sends one datagram to addr from inside the namespace and waits
// (at most timeout) for the echo.
func (ns *NS) UDPExchange(addr string, timeout time.Duration) error {
	var c net.Conn
	if err := ns.Do(func() (err error) {
		c, err = net.Dial("udp", addr)
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	return echo(c, time.Now().Add(timeout))
}
