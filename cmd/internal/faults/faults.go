// Package faults records the outcome of the fault-injection tests
// (cmd/untrackd/faults_*_test.go) as rows of a table, and prints it
// (faulttable, run by "make test-faults").
//
// A test calls Record for each fault it injected. When the environment
// variable named by EnvReport holds a file name, Record appends the row to
// that file as one JSON line, so rows from several test runs and packages
// add up; without it, Record does nothing but the test's own log.
package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// EnvReport names the environment variable holding the report file.
const EnvReport = "UNTRACKD_FAULTS_REPORT"

// Row is the outcome of one injected fault.
type Row struct {
	// Fault names what was injected.
	Fault string `json:"fault"`
	// Attempted and Failed count the connections the test's client opened
	// through untrackd's rules while the fault lasted, and those that
	// failed (a connection the policy denies on purpose is not counted).
	Attempted int `json:"attempted"`
	Failed    int `json:"failed"`
	// RulesLost is the largest number of untrackd's rules (counted by
	// their hash, per chain) found missing from the kernel at any sample
	// taken while the fault lasted, beyond those the fault itself removed,
	// or still missing once converged.
	RulesLost int `json:"rulesLost"`
	// Converge is the time from the end of the fault (or from the
	// tampering) until the kernel and readiness were as they should be.
	Converge time.Duration `json:"converge"`
	// Notes says what else was measured.
	Notes string `json:"notes,omitempty"`
	// Passed is false when the test checking the fault failed.
	Passed bool `json:"passed"`
}

var mu sync.Mutex

// Record appends r to the report file, if one is configured.
func Record(r Row) error {
	path := os.Getenv(EnvReport)
	if path == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("fault report: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		return fmt.Errorf("fault report: %w", err)
	}
	return f.Close()
}

// Read reads the rows of a report file.
func Read(r io.Reader) ([]Row, error) {
	var rows []Row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var row Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}

// Format writes rows as an aligned text table.
func Format(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "fault\tattempted\tfailed\trules lost\tconverge\tok\tnotes")
	for _, r := range rows {
		ok := "yes"
		if !r.Passed {
			ok = "NO"
		}
		conv := "-"
		if r.Converge > 0 {
			conv = r.Converge.Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\n", r.Fault, r.Attempted, r.Failed, r.RulesLost, conv, ok, r.Notes)
	}
	return tw.Flush()
}
