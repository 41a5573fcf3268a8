package bench

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Cleanups runs registered functions in reverse order exactly once: at the
// end of main (defer c.Run()) or when SIGINT, SIGTERM or SIGHUP arrive, so
// global state a benchmark changed is restored on every exit path short of
// SIGKILL.
type Cleanups struct {
	mu   sync.Mutex
	fns  []func()
	done bool
}

// NewCleanups returns a Cleanups whose functions also run on SIGINT,
// SIGTERM and SIGHUP, after which the process exits with status 130.
func NewCleanups() *Cleanups {
	c := &Cleanups{}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\n%v: cleaning up\n", s)
		c.Run()
		os.Exit(130)
	}()
	return c
}

// Add registers fn to run at cleanup, before the functions added earlier.
func (c *Cleanups) Add(fn func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		fn()
		return
	}
	c.fns = append(c.fns, fn)
}

// Run runs the registered functions, last added first. Later calls do
// nothing. A panicking function does not stop the others.
func (c *Cleanups) Run() {
	c.mu.Lock()
	fns := c.fns
	c.fns, c.done = nil, true
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Fprintf(os.Stderr, "cleanup: %v\n", r)
				}
			}()
			fns[i]()
		}()
	}
}
