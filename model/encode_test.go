package model

import (
	"encoding/json"
	"testing"
)

// TestRoundTrip checks that resources as Calico stores them decode strictly
// and re-encode to the same JSON (compared semantically).
func TestRoundTrip(t *testing.T) {
	docs := []string{
		seedPolicyJSON,
		`{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","uid":"4b1c","resourceVersion":"12","creationTimestamp":"2026-11-23T10:00:00Z","labels":{"memcached":"server"}},
		  "spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["10.128.0.162"],"ports":[{"name":"memcache","protocol":"TCP","port":12211}]}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"clients","labels":{"memcached":"client"}},"spec":{"nets":["10.0.0.0/8","fd00::/8"]}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},
		  "spec":{"failsafeInboundHostPorts":[{"protocol":"TCP","port":22}],"logSeverityScreen":"Info","bpfEnabled":false,"reportingInterval":"0s"}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"all-features"},"spec":{"tier":"default","order":10.5,"selector":"all()","types":["Ingress","Egress"],
		  "ingress":[{"action":"Deny","ipVersion":4,"protocol":"ICMP","icmp":{"type":8,"code":0},"notProtocol":17,"source":{"nets":["10.0.0.0/8"],"notNets":["10.1.0.0/16"],"notSelector":"has(x)"},"destination":{"ports":["http",80,"1000:2000"],"notPorts":[443]},"metadata":{"annotations":{"a":"b"}}}],
		  "egress":[{"action":"Pass","protocol":58,"notICMP":{"type":128}}]}}`,
	}
	for _, d := range docs {
		r, err := Decode([]byte(d))
		if err != nil {
			t.Fatalf("decode %s: %v", d, err)
		}
		out, err := Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		if err := json.Unmarshal([]byte(d), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		aj, _ := json.Marshal(a)
		bj, _ := json.Marshal(b)
		if string(aj) != string(bj) {
			t.Errorf("round trip changed the resource:\n in: %s\nout: %s", aj, bj)
		}
	}
}

func TestEffectiveTypes(t *testing.T) {
	r := Rule{Action: Allow}
	cases := []struct {
		spec GlobalNetworkPolicySpec
		want string
	}{
		{GlobalNetworkPolicySpec{}, "[Ingress]"},
		{GlobalNetworkPolicySpec{Ingress: []Rule{r}}, "[Ingress]"},
		{GlobalNetworkPolicySpec{Egress: []Rule{r}}, "[Egress]"},
		{GlobalNetworkPolicySpec{Ingress: []Rule{r}, Egress: []Rule{r}}, "[Ingress Egress]"},
		{GlobalNetworkPolicySpec{Types: []PolicyType{PolicyTypeEgress}, Ingress: []Rule{r}}, "[Egress]"},
	}
	for _, c := range cases {
		got, _ := json.Marshal(c.spec.EffectiveTypes())
		if want, _ := json.Marshal(parseTypes(c.want)); string(got) != string(want) {
			t.Errorf("%+v: got %s want %s", c.spec, got, want)
		}
	}
}

func parseTypes(s string) []PolicyType {
	switch s {
	case "[Ingress]":
		return []PolicyType{PolicyTypeIngress}
	case "[Egress]":
		return []PolicyType{PolicyTypeEgress}
	}
	return []PolicyType{PolicyTypeIngress, PolicyTypeEgress}
}
