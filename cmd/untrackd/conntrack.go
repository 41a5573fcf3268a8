package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// conntrackCollector reports the conntrack table's fill at scrape time, from
// procRoot/sys/net/netfilter/nf_conntrack_{count,max}. Both are read through
// the daemon's own /proc, so they are those of the network namespace the
// daemon runs in: the count is per namespace, the limit is the host's
// (read-only in other namespaces). Without conntrack (module not loaded)
// there are no series.
type conntrackCollector struct {
	dir          string
	entries      *prometheus.Desc
	entriesLimit *prometheus.Desc
}

func newConntrackCollector(procRoot string) *conntrackCollector {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return &conntrackCollector{
		dir: filepath.Join(procRoot, "sys", "net", "netfilter"),
		entries: prometheus.NewDesc("untrackd_conntrack_entries",
			"Connections in the conntrack table (nf_conntrack_count) of untrackd's network namespace.", nil, nil),
		entriesLimit: prometheus.NewDesc("untrackd_conntrack_entries_limit",
			"Size of the conntrack table (nf_conntrack_max); the kernel drops new connections when entries reach it.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *conntrackCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.entriesLimit
}

// Collect implements prometheus.Collector.
func (c *conntrackCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range []struct {
		file string
		desc *prometheus.Desc
	}{{"nf_conntrack_count", c.entries}, {"nf_conntrack_max", c.entriesLimit}} {
		if v, ok := readUint(filepath.Join(c.dir, m.file)); ok {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v)
		}
	}
}

func readUint(path string) (float64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return float64(n), err == nil
}
