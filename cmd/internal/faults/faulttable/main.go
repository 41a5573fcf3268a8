// Command faulttable prints the fault table that the fault-injection tests
// recorded (see package faults): make test-faults runs it.
//
// Usage:
//
//	faulttable report.jsonl
package main

import (
	"fmt"
	"os"

	"github.com/untrackd/untrackd/cmd/internal/faults"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: faulttable report.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "faulttable:", err)
		os.Exit(1)
	}
	defer f.Close()
	rows, err := faults.Read(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "faulttable: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "faulttable: no faults recorded (were the kernel tests skipped? they need root)")
		os.Exit(1)
	}
	if err := faults.Format(os.Stdout, rows); err != nil {
		fmt.Fprintln(os.Stderr, "faulttable:", err)
		os.Exit(1)
	}
}
