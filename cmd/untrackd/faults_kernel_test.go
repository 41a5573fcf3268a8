package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/untrackd/untrackd/cmd/internal/faults"
)

// squatter is another process that takes ownership of the table name
// "inet untrackd" with nftables' owner flag (Linux 5.12+): in one
// transaction it deletes untrackd's table and creates an identical copy
// flagged owner, so traffic sees no change, but from then on the kernel
// refuses every change to the table from any other socket with EPERM. It
// is "nft -i", whose one netlink socket owns the table while it runs: on
// release it swaps the table for an unowned copy again; when killed, the
// kernel destroys the table it owned, silently (no notification).
type squatter struct {
	b      *faultBed
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *lockedBuffer
	squat  string // nft script files
	unsqat string
	done   chan struct{}
}

func (b *faultBed) squat() *squatter {
	b.t.Helper()
	listing := counterValues.ReplaceAllString(b.nft("list", "table", "inet", "untrackd"), "counter")
	header, body, ok := strings.Cut(listing, "\n")
	if !ok || !strings.HasPrefix(header, "table inet untrackd {") {
		b.t.Fatalf("unexpected listing:\n%s", listing)
	}
	dir := b.t.TempDir()
	s := &squatter{b: b, out: &lockedBuffer{}, done: make(chan struct{}),
		squat: filepath.Join(dir, "squat.nft"), unsqat: filepath.Join(dir, "release.nft")}
	for file, text := range map[string]string{
		s.squat:  "delete table inet untrackd\ntable inet untrackd {\n\tflags owner\n" + body,
		s.unsqat: "delete table inet untrackd\ntable inet untrackd {\n" + body,
	} {
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			b.t.Fatal(err)
		}
	}
	s.cmd = exec.Command("ip", "netns", "exec", b.srv.Name, "nft", "-i")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		b.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		b.t.Fatalf("nft -i: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	b.t.Cleanup(s.kill)
	s.send(s.squat)
	b.waitFor("the table to be owned by nft -i", 10*time.Second, func() bool { return s.owned() })
	return s
}

func (s *squatter) send(file string) {
	s.b.t.Helper()
	if _, err := fmt.Fprintf(s.stdin, "include \"%s\"\n", file); err != nil {
		s.b.t.Fatalf("nft -i: %v\n%s", err, s.out.String())
	}
}

func (s *squatter) owned() bool {
	out, _ := s.b.srv.Exec("nft", "list", "table", "inet", "untrackd")
	return strings.Contains(out, "flags owner")
}

// release hands the table back: an unowned copy, then nft exits.
func (s *squatter) release() {
	s.b.t.Helper()
	s.send(s.unsqat)
	s.b.waitFor("the table to be released", 10*time.Second, func() bool { return !s.owned() })
	_ = s.stdin.Close()
	<-s.done
}

// kill kills nft; the kernel then destroys the table it owned.
func (s *squatter) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// TestFaultKernelRejectsWrites makes the kernel refuse untrackd's writes
// for real: another process owns the table (see squatter), so every apply
// fails with EPERM. The table and the traffic stay exactly as they were (a
// rejected batch changes nothing), the failures are retried with
// exponential backoff (measured from the logs: no hot loop), counted, and
// reported by readiness while liveness holds; when the other process lets
// go, the pending change is applied. Then the owner is killed instead: the
// kernel deletes the table without any notification, and the periodic
// refresh restores it.
func TestFaultKernelRejectsWrites(t *testing.T) {
	b := newFaultBed(t, faultBedOptions{args: []string{"--dataplane-refresh-interval", "4s"}})
	tr := b.startTraffic()
	time.Sleep(200 * time.Millisecond)
	before := b.list()
	sampler := b.sampleRules(before)
	t0 := tr.snapshot()
	failures0 := b.metric("untrackd_dataplane_apply_failures_total")

	s := b.squat()
	time.Sleep(1500 * time.Millisecond) // the watch sees the swap and re-reads: nothing to write
	if f := b.metric("untrackd_dataplane_apply_failures_total"); f != failures0 {
		t.Fatalf("%v failed applies before anything needed writing", f-failures0)
	}
	// A change untrackd cannot write.
	b.etcd.put(keyPrefix+"globalnetworkpolicies/deny-port", denyGNP(12213))
	b.waitFor("a rejected apply", 10*time.Second, func() bool {
		return b.metric("untrackd_dataplane_apply_failures_total") > failures0
	})
	failStart := time.Now()
	time.Sleep(7 * time.Second)
	code, body := b.readiness()
	if code != 503 || !strings.Contains(body, "dataplane apply failing") || !strings.Contains(body, "operation not permitted") {
		t.Errorf("readiness while writes fail: %d %q", code, body)
	}
	b.checkLive("while writes fail")
	if got := canon(b.list()); got != canon(before) {
		t.Errorf("the table changed although every write was rejected:\n%s", got)
	}
	failed := b.logLines(b.d, "dataplane apply failed; will retry")
	counted := b.metric("untrackd_dataplane_apply_failures_total") - failures0
	// The gaps between attempts, and the delays the driver chose: from
	// 100ms doubling to --apply-retry-max (2s), ±20%. The periodic refresh
	// (4s) adds attempts of its own in between.
	var gaps, delays []string
	maxDelay := 0.0
	for i, f := range failed {
		d, _ := f["retry_in"].(float64)
		if d < 0.08 || d > 2.4 {
			t.Errorf("retry delay %vs, want within [0.08s, 2.4s]", d)
		}
		maxDelay = max(maxDelay, d)
		delays = append(delays, fmt.Sprintf("%.2g", d))
		if i > 0 {
			gap := time.Duration((f["ts"].(float64) - failed[i-1]["ts"].(float64)) * float64(time.Second))
			gaps = append(gaps, gap.Round(10*time.Millisecond).String())
		}
	}
	t.Logf("%d rejected applies in %v, counted %v; retry delays %v s; gaps %v", len(failed), time.Since(failStart).Round(time.Millisecond), counted, delays, gaps)
	if len(failed) < 5 || len(failed) > 15 || float64(len(failed)) != counted {
		t.Errorf("%d failures logged, %v counted in ~7s (backoff 100ms doubling to 2s)", len(failed), counted)
	}
	if maxDelay < 1.5 {
		t.Errorf("the retry delay never grew beyond %vs", maxDelay)
	}
	if !strings.Contains(fmt.Sprint(failed[0]["error"]), "operation not permitted") {
		t.Errorf("failure logged as %v", failed[0]["error"])
	}

	// The owner lets go: the pending change goes in.
	s.release()
	converge := b.waitFor("the pending change after the release", 30*time.Second, func() bool {
		return b.ready() && b.list().Chains["pol-untracked-in-deny-port"] != nil
	})
	time.Sleep(1100 * time.Millisecond)
	lost, samples := sampler.stop()
	res := tr.snapshot().since(t0)
	if lost != 0 || res.failed != 0 || res.longFail != 0 {
		t.Errorf("while writes were rejected: %d rules lost (%d samples); %v", lost, samples, res)
	}
	if len(b.logLines(b.d, "dataplane apply succeeded after failures")) == 0 {
		t.Error("recovery not logged")
	}
	b.rows.add(faults.Row{Fault: "kernel rejects writes (EPERM), then lets go", Attempted: res.attempted, Failed: res.failed + res.longFail,
		RulesLost: lost, Converge: converge,
		Notes: fmt.Sprintf("%d rejected applies in 7s, retried after %s; table unchanged; readiness 503 %q; released → applied",
			len(failed), strings.Join(gaps, " "), strings.TrimSpace(strings.SplitN(body, "\n", 3)[1]))})

	// The owner dies: the kernel destroys the table and tells no one; the
	// periodic refresh (4s here, 90s by default) finds it gone.
	after := b.list()
	s = b.squat()
	time.Sleep(300 * time.Millisecond)
	t0 = tr.snapshot()
	s.kill()
	if b.list() != nil {
		t.Fatal("the owned table survived its owner")
	}
	converge = b.waitFor("the refresh to restore the table", 30*time.Second, func() bool { return canon(b.list()) == canon(after) })
	time.Sleep(1100 * time.Millisecond)
	res = tr.snapshot().since(t0)
	tr.stop()
	if res.failed != 0 || res.longFail != 0 {
		t.Errorf("while the table was gone: %v", res)
	}
	b.rows.add(faults.Row{Fault: "table owner killed (silent delete)", Attempted: res.attempted, Failed: res.failed + res.longFail,
		RulesLost: 0, Converge: converge,
		Notes: "the kernel deletes an owned table without notification: restored by the periodic refresh (4s here, 90s by default); no table meanwhile"})
}
