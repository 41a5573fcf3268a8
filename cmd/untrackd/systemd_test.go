package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const unitFile = "../../docs/untrackd.service"

// unitDirectives returns the unit file's settings as "Section.Key" → values.
func unitDirectives(t *testing.T, text string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("unit file line %q", line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// TestUnitFile checks that the unit declares what docs/operations.md
// promises, then has systemd-analyze verify it offline (and rate its
// hardening) if systemd-analyze can run here.
func TestUnitFile(t *testing.T) {
	text, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	d := unitDirectives(t, string(text))
	for key, want := range map[string]string{
		"Unit.Wants":                      "network-online.target",
		"Unit.After":                      "network-online.target",
		"Service.Type":                    "notify",
		"Service.ExecStart":               "/usr/local/bin/untrackd run --config-file /etc/untrackd/untrackd.yaml",
		"Service.WatchdogSec":             "30s",
		"Service.Restart":                 "always",
		"Service.StateDirectory":          "untrackd",
		"Service.CapabilityBoundingSet":   "CAP_NET_ADMIN",
		"Service.NoNewPrivileges":         "yes",
		"Service.ProtectSystem":           "strict",
		"Service.ProtectKernelTunables":   "yes",
		"Service.RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6 AF_NETLINK",
		"Service.SystemCallFilter":        "@system-service",
		"Install.WantedBy":                "multi-user.target",
	} {
		if !slices.Contains(d[key], want) {
			t.Errorf("%s = %q, want %q among them", key, d[key], want)
		}
	}
	for _, forbidden := range []string{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_NET_RAW", "CAP_DAC_OVERRIDE"} {
		if strings.Contains(strings.Join(d["Service.CapabilityBoundingSet"], " "), forbidden) {
			t.Errorf("the unit keeps %s", forbidden)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipping systemd-analyze verify: systemd-analyze is not installed")
	}
	// verify checks that ExecStart exists: point it at an executable.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "untrackd.service")
	body := strings.Replace(string(text), "/usr/local/bin/untrackd", self, 1)
	if err := os.WriteFile(unit, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput(); err != nil || strings.Contains(string(out), "untrackd.service") {
		// A trivially good unit failing too means verify cannot work here.
		probe := filepath.Join(dir, "probe.service")
		_ = os.WriteFile(probe, []byte("[Service]\nExecStart="+self+"\n"), 0o644)
		if pout, perr := exec.Command(analyze, "verify", "--man=no", probe).CombinedOutput(); perr != nil {
			t.Skipf("skipping: systemd-analyze verify does not work offline here: %v\n%s", perr, pout)
		}
		t.Fatalf("systemd-analyze verify rejects the unit: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", unit).CombinedOutput()
	if err != nil {
		t.Logf("systemd-analyze security --offline unavailable: %v", err)
		return
	}
	m := regexp.MustCompile(`Overall exposure level for untrackd.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Logf("no exposure level in:\n%s", out)
		return
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", level)
	if level > 3.0 {
		t.Errorf("exposure level %.1f, want at most 3.0 (systemd's \"OK\")", level)
	}
}
