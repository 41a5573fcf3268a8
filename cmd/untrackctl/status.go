package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
)

// status prints the local daemon's /status: a summary, or the document
// itself with -o json. It reaches the daemon at --health-host and
// --health-port (UNTRACKD_HEALTH_HOST, UNTRACKD_HEALTH_PORT; defaults
// 127.0.0.1:9099), the daemon's own settings. It fails if the daemon
// cannot be reached, not if it is unready.
func (c *ctl) status(ctx context.Context, args []string) error {
	var host string
	var port int
	f, err := c.parse("status", args, true, func(f *commandFlags) {
		f.fs.StringVar(&host, "health-host", "127.0.0.1", "address of untrackd's health server")
		f.fs.IntVar(&port, "health-port", 9099, "port of untrackd's health server")
		f.fs.StringVar(&f.output, "o", "text", "output format: text or json")
		f.fs.StringVar(&f.output, "output", "text", "same as -o")
	})
	if err != nil {
		return err
	}
	if f.output != "text" && f.output != "json" {
		return fmt.Errorf("-o %q: want text or json", f.output)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1" // the daemon listens on every address
	}
	url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/status"
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("untrackd's status: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("untrackd's status: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("untrackd's status: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if f.output == "json" {
		_, err := c.out.Write(body)
		return err
	}
	var d opstatus.Doc
	if err := json.Unmarshal(body, &d); err != nil {
		return fmt.Errorf("untrackd's status from %s: %w", url, err)
	}
	printStatus(c.out, &d)
	return nil
}

// printStatus writes a human summary of a status document.
func printStatus(w io.Writer, d *opstatus.Doc) {
	yes := map[bool]string{true: "yes", false: "NO"}
	fmt.Fprintf(w, "node %s, untrackd %s: ready %s, live %s\n", d.Node, d.Version, yes[d.Ready], yes[d.Live])
	for _, p := range d.ReadinessProblems {
		fmt.Fprintf(w, "  not ready: %s\n", p)
	}
	for _, p := range d.LivenessProblems {
		fmt.Fprintf(w, "  not live: %s\n", p)
	}
	fmt.Fprintf(w, "datastore: %s since %s\n", d.Datastore.Status, d.Datastore.Since.Format(time.RFC3339))
	p := d.Dataplane
	last := "never"
	if p.LastSuccessAt != nil {
		last = p.LastSuccessAt.Format(time.RFC3339)
	}
	fmt.Fprintf(w, "dataplane: last success %s; %d chains, %d rules, %d sets (%d elements), %d policies\n",
		last, p.Chains, p.Rules, p.Sets, p.SetElements, p.Policies)
	if p.LastError != "" {
		fmt.Fprintf(w, "  failing: %s (%d attempts)\n", p.LastError, p.ConsecutiveFailures)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ENDPOINT\tINTERFACE\tUNTRACKED IN\tUNTRACKED OUT\tPRE-DNAT\tNORMAL IN\tNORMAL OUT\tAPPLIED")
	list := func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ",")
	}
	for _, e := range d.Endpoints {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Interface, list(e.Untracked.Ingress), list(e.Untracked.Egress),
			list(e.PreDNAT.Ingress), list(e.Normal.Ingress), list(e.Normal.Egress), e.AppliedAt.Format(time.RFC3339))
	}
	_ = tw.Flush()
}
