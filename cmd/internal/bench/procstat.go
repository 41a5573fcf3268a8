package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/stat's CPU columns (USER_HZ, 100 on Linux).
const userHZ = 100

// ThreadsCPU returns the CPU time all threads of pid have used, from
// /proc/<pid>/task/*/schedstat (nanosecond resolution). A kernel thread
// (such as a threaded-NAPI poller) is a pid like any other.
func ThreadsCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		return 0, fmt.Errorf("no tasks for pid %d", pid)
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // thread exited
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			ns, _ := strconv.ParseInt(f[0], 10, 64)
			total += ns
		}
	}
	return time.Duration(total), nil
}

// SystemCPU is the machine's CPU time from /proc/stat, summed over CPUs.
type SystemCPU struct {
	Busy, Softirq, Total time.Duration
}

// ReadSystemCPU reads the "cpu" line of /proc/stat. The kernel samples it
// at the tick (CONFIG_TICK_CPU_ACCOUNTING), so short windows are coarse.
func ReadSystemCPU() (SystemCPU, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SystemCPU{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return SystemCPU{}, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	var v [10]int64
	for i := 1; i < len(f) && i <= 10; i++ {
		v[i-1], _ = strconv.ParseInt(f[i], 10, 64)
	}
	tick := time.Second / userHZ
	var total int64
	for i := 0; i < 8; i++ { // user nice system idle iowait irq softirq steal
		total += v[i]
	}
	idle := v[3] + v[4]
	return SystemCPU{
		Busy:    time.Duration(total-idle) * tick,
		Softirq: time.Duration(v[6]) * tick,
		Total:   time.Duration(total) * tick,
	}, nil
}

// Sub returns s − o.
func (s SystemCPU) Sub(o SystemCPU) SystemCPU {
	return SystemCPU{Busy: s.Busy - o.Busy, Softirq: s.Softirq - o.Softirq, Total: s.Total - o.Total}
}

// ConntrackStat is a namespace's conntrack statistics, summed over CPUs
// (/proc/<pid>/net/stat/nf_conntrack, read through a process inside the
// namespace).
type ConntrackStat struct {
	Entries      int64
	Drop         int64 // new connections dropped because the table was full
	EarlyDrop    int64 // entries evicted to make room
	InsertFailed int64
	Invalid      int64
}

// Drops is every counter that means a packet or entry was lost to a full
// table.
func (c ConntrackStat) Drops() int64 { return c.Drop + c.EarlyDrop + c.InsertFailed }

// Sub returns the counters' change since o (Entries is c's).
func (c ConntrackStat) Sub(o ConntrackStat) ConntrackStat {
	return ConntrackStat{Entries: c.Entries, Drop: c.Drop - o.Drop, EarlyDrop: c.EarlyDrop - o.EarlyDrop,
		InsertFailed: c.InsertFailed - o.InsertFailed, Invalid: c.Invalid - o.Invalid}
}

// ReadConntrackStat reads the conntrack statistics of pid's namespace.
func ReadConntrackStat(pid int) (ConntrackStat, error) {
	var st ConntrackStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/stat/nf_conntrack", pid))
	if err != nil {
		return st, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return st, fmt.Errorf("unexpected nf_conntrack stat: %q", b)
	}
	cols := strings.Fields(lines[0])
	idx := map[string]int{}
	for i, c := range cols {
		idx[c] = i
	}
	for n, l := range lines[1:] {
		f := strings.Fields(l)
		get := func(name string) int64 {
			i, ok := idx[name]
			if !ok || i >= len(f) {
				return 0
			}
			v, _ := strconv.ParseInt(f[i], 16, 64)
			return v
		}
		if n == 0 {
			st.Entries = get("entries") // the namespace's count, on every row
		}
		st.Drop += get("drop")
		st.EarlyDrop += get("early_drop")
		st.InsertFailed += get("insert_failed")
		st.Invalid += get("invalid")
	}
	return st, nil
}

// PeakRSS returns a process's peak resident set size (VmHWM) and current
// RSS in bytes.
func PeakRSS(pid int) (peak, cur int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmHWM":
			peak = n << 10
		case "VmRSS":
			cur = n << 10
		}
	}
	return peak, cur, nil
}

// KernelThreadsCPU returns the CPU time used so far by each kernel thread
// (the children of kthreadd: kworkers, ksoftirqd, RCU, NAPI pollers …),
// by pid.
func KernelThreadsCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[1] != "2" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if d, err := ThreadsCPU(pid); err == nil {
			out[pid] = d
		}
	}
	return out
}

// KernelThreadsDelta sums the CPU kernel threads used between two samples
// of KernelThreadsCPU, leaving out the pids in skip.
func KernelThreadsDelta(before, after map[int]time.Duration, skip []int) time.Duration {
	var d time.Duration
	for pid, a := range after {
		if containsInt(skip, pid) {
			continue
		}
		d += a - before[pid]
	}
	return d
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
