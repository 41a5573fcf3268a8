package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// listener serves one handler on an address that can change while the
// daemon runs (FelixConfiguration may move or disable it). It is safe for
// concurrent use.
type listener struct {
	name    string // "health" or "metrics", for logs
	handler http.Handler
	log     *zap.Logger

	mu   sync.Mutex
	addr string // as configured; "" when off
	srv  *http.Server
	ln   net.Listener
}

func newListener(name string, h http.Handler, log *zap.Logger) *listener {
	return &listener{name: name, handler: h, log: log}
}

// set makes the listener serve on addr, or stop serving if addr is "". The
// new address is bound before the old one is released, except when the two
// overlap (same port), so a failed move keeps the old server. It returns
// the bind error, if any; it is idempotent.
func (l *listener) set(addr string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if addr == l.addr {
		return nil
	}
	if addr == "" {
		l.stopLocked()
		l.addr = ""
		l.log.Info("server stopped", zap.String("server", l.name))
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) && l.srv != nil {
		// Probably our own old listener (e.g. 127.0.0.1:9099 → 0.0.0.0:9099).
		old := l.addr
		l.stopLocked()
		if ln, err = net.Listen("tcp", addr); err != nil {
			l.addr = ""
			if ln2, err2 := net.Listen("tcp", old); err2 == nil {
				l.serveLocked(ln2, old)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s server: listen on %s: %w", l.name, addr, err)
	}
	l.stopLocked()
	l.serveLocked(ln, addr)
	l.log.Info("server listening", zap.String("server", l.name), zap.String("address", ln.Addr().String()))
	return nil
}

func (l *listener) serveLocked(ln net.Listener, addr string) {
	srv := &http.Server{Handler: l.handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
		ErrorLog: zap.NewStdLog(l.log.Named(l.name))}
	l.srv, l.ln, l.addr = srv, ln, addr
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.log.Error("server failed", zap.String("server", l.name), zap.Error(err))
		}
	}()
}

func (l *listener) stopLocked() {
	if l.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	l.srv, l.ln = nil, nil
}

// Addr returns the address actually bound ("" when off).
func (l *listener) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln == nil {
		return ""
	}
	return l.ln.Addr().String()
}

// close stops serving.
func (l *listener) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopLocked()
	l.addr = ""
}
