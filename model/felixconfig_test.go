package model

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestFelixOperationalFields checks the health, metrics and refresh fields:
// Felix's names and ranges, strict types, exact re-encoding, and that a bad
// value names its field.
func TestFelixOperationalFields(t *testing.T) {
	const head = `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":`
	cases := []struct {
		name, spec string
		want       []string // validation errors; nil: valid
		decodeErr  string   // a strict decoding error
	}{
		{name: "all set", spec: `{"healthEnabled":true,"healthHost":"0.0.0.0","healthPort":9099,"prometheusMetricsEnabled":false,"prometheusMetricsHost":"::1","prometheusMetricsPort":9091,"prometheusGoMetricsEnabled":false,"prometheusProcessMetricsEnabled":true,"nftablesRefreshInterval":"1m30s","logSeverityScreen":"Trace"}`},
		{name: "port zero as Felix allows", spec: `{"healthPort":0,"prometheusMetricsPort":0}`},
		{name: "zero refresh disables", spec: `{"nftablesRefreshInterval":"0s"}`},
		{name: "ports out of range", spec: `{"healthPort":65536,"prometheusMetricsPort":-1}`,
			want: []string{"spec.healthPort: 65536 is not a port", "spec.prometheusMetricsPort: -1 is not a port"}},
		{name: "bad hosts", spec: `{"healthHost":"","prometheusMetricsHost":"a b"}`,
			want: []string{`spec.prometheusMetricsHost: "a b" is not an IP address or host name`, "spec.healthHost: must not be empty"}},
		{name: "bad duration", spec: `{"nftablesRefreshInterval":"soon"}`, want: []string{`spec.nftablesRefreshInterval: "soon" is not a duration`}},
		{name: "negative duration", spec: `{"nftablesRefreshInterval":"-5s"}`, want: []string{"must not be negative"}},
		{name: "wrong type", spec: `{"healthPort":"9099"}`, decodeErr: "cannot unmarshal string"},
		{name: "wrong bool type", spec: `{"healthEnabled":"yes"}`, decodeErr: "cannot unmarshal string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := head + c.spec + "}"
			r, err := Decode([]byte(doc))
			if c.decodeErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.decodeErr) {
					t.Fatalf("decode error %v, want %q", err, c.decodeErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			err = r.Validate()
			if c.want == nil {
				if err != nil {
					t.Fatalf("valid resource rejected: %v", err)
				}
				assertSameJSON(t, doc, r)
				return
			}
			if err == nil {
				t.Fatalf("invalid resource accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestFelixOperationalValues(t *testing.T) {
	r, err := DecodeKey(Key{Kind: KindFelixConfiguration, Name: "node.n1"},
		[]byte(`{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"node.n1"},"spec":{"healthPort":9199,"healthEnabled":false,"nftablesRefreshInterval":"10s","bpfEnabled":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := r.(*FelixConfiguration).Spec
	if s.HealthPort == nil || *s.HealthPort != 9199 || s.HealthEnabled == nil || *s.HealthEnabled ||
		s.NftablesRefreshInterval == nil || *s.NftablesRefreshInterval != "10s" || s.HealthHost != nil || s.PrometheusMetricsPort != nil {
		t.Errorf("decoded %+v", s)
	}
	if _, ok := s.Other["bpfEnabled"]; !ok || s.Other["healthPort"] != nil {
		t.Errorf("other fields %v", s.Other)
	}
}

// assertSameJSON checks that r encodes to doc, compared semantically.
func assertSameJSON(t *testing.T, doc string, r Resource) {
	t.Helper()
	out, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal([]byte(doc), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	aj, _ := json.Marshal(a)
	bj, _ := json.Marshal(b)
	if string(aj) != string(bj) {
		t.Errorf("re-encoding changed the resource:\n in: %s\nout: %s", aj, bj)
	}
}
