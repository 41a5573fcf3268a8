package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRecordReadFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.jsonl")
	t.Setenv(EnvReport, path)
	rows := []Row{
		{Fault: "etcd stopped", Attempted: 100, Failed: 0, Converge: 1500 * time.Millisecond, Notes: "ok", Passed: true},
		{Fault: "tamper", Attempted: 3, Failed: 1, RulesLost: 2, Passed: false},
	}
	for _, r := range rows {
		if err := Record(r); err != nil {
			t.Fatal(err)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("report file: %v %v", info, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Read(f)
	if err != nil || len(got) != 2 || got[0] != rows[0] || got[1] != rows[1] {
		t.Fatalf("read back %+v, %v", got, err)
	}
	var b strings.Builder
	if err := Format(&b, got); err != nil {
		t.Fatal(err)
	}
	want := []string{"fault", "etcd stopped", "1.5s", "yes", "tamper", "NO"}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
	t.Setenv(EnvReport, "")
	if err := Record(rows[0]); err != nil {
		t.Fatalf("Record without a report file: %v", err)
	}
}
