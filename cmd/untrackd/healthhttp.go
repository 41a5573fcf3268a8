package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/untrackd/untrackd/cmd/internal/opstatus"
)

// healthHandler serves the health endpoints:
//
//	/liveness   200 "live" or 503 with the reasons, one per line
//	/readiness  200 "ready" or 503 with the reasons
//	/status     200 and the status document as JSON (package opstatus)
//
// Only GET and HEAD are allowed. status builds the current document.
func healthHandler(m *monitor, status func() opstatus.Doc) http.Handler {
	mux := http.NewServeMux()
	check := func(name string, probe func() (bool, []string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			ok, why := probe()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if ok {
				fmt.Fprintln(w, name)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not %s:\n%s\n", name, strings.Join(why, "\n"))
		}
	}
	mux.Handle("GET /liveness", check("live", m.live))
	mux.Handle("GET /readiness", check("ready", m.ready))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(status())
	})
	return mux
}
