package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// GlobalSysctls changes sysctls of the root namespace (such as
// net.netfilter.nf_conntrack_max, which is global and read-only inside a
// namespace) and puts the original values back. Register Restore with a
// Cleanups so it runs on every exit path.
type GlobalSysctls struct {
	mu   sync.Mutex
	orig map[string]string // key → value before the first Set
	keys []string          // in the order first set
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// ReadSysctl reads a sysctl of the calling thread's namespace.
func ReadSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

// Set writes value, remembering the value found the first time the key is
// set.
func (g *GlobalSysctls) Set(key, value string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.orig == nil {
		g.orig = map[string]string{}
	}
	if _, ok := g.orig[key]; !ok {
		v, err := ReadSysctl(key)
		if err != nil {
			return err
		}
		g.orig[key] = v
		g.keys = append(g.keys, key)
	}
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// Restore writes back every original value; it may be called more than
// once. Errors are printed, not returned: it runs at cleanup.
func (g *GlobalSysctls) Restore() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.keys) - 1; i >= 0; i-- {
		k := g.keys[i]
		if err := os.WriteFile(sysctlPath(k), []byte(g.orig[k]), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "restoring sysctl %s=%s: %v\n", k, g.orig[k], err)
		}
	}
}

// Original returns the value a key had before the first Set (or its
// current value if it was never set).
func (g *GlobalSysctls) Original(key string) (string, error) {
	g.mu.Lock()
	v, ok := g.orig[key]
	g.mu.Unlock()
	if ok {
		return v, nil
	}
	return ReadSysctl(key)
}
