package model

import (
	"strings"
	"testing"
)

const seedPolicyJSON = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server"},
"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,
"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],
"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}]}}`

// policyWith returns the seed policy's JSON with its spec replaced.
func policyWith(spec string) string {
	return `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"p"},"spec":` + spec + `}`
}

func hepWith(spec string) string {
	return `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"h","labels":{"a":"b"}},"spec":` + spec + `}`
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		json string
		want []string // substrings, each must appear in the error
	}{
		{"seed policy is valid", seedPolicyJSON, nil},
		{"doNotTrack without applyOnForward",
			policyWith(`{"doNotTrack":true,"ingress":[{"action":"Allow"}]}`),
			[]string{"spec.applyOnForward: must be true when doNotTrack is true"}},
		{"doNotTrack with preDNAT",
			policyWith(`{"doNotTrack":true,"preDNAT":true,"applyOnForward":true}`),
			[]string{"spec: preDNAT and doNotTrack cannot both be true"}},
		{"preDNAT with egress",
			policyWith(`{"preDNAT":true,"applyOnForward":true,"egress":[{"action":"Allow"}],"types":["Egress"]}`),
			[]string{"spec.egress: preDNAT policy cannot have egress rules", "spec.types: preDNAT policy cannot have the Egress type"}},
		{"bad CIDR",
			policyWith(`{"ingress":[{"action":"Deny","source":{"nets":["10.0.0.0/33"]}}]}`),
			[]string{`spec.ingress[0].source.nets[0]: "10.0.0.0/33" is not a valid CIDR`}},
		{"bad notNets address",
			policyWith(`{"ingress":[{"action":"Deny","destination":{"notNets":["10.0.0.300"]}}]}`),
			[]string{`spec.ingress[0].destination.notNets[0]: "10.0.0.300" is not a valid IP address or CIDR`}},
		{"bad port number",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[80,99999]}}]}`),
			[]string{`spec.ingress[0].destination.ports[1]: "99999" is not a valid port`}},
		{"port zero",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"UDP","destination":{"ports":[0]}}]}`),
			[]string{`spec.ingress[0].destination.ports[0]: "0" is not a valid port`}},
		{"reversed range",
			policyWith(`{"egress":[{"action":"Allow","protocol":"TCP","source":{"notPorts":["2000:1000"]}}]}`),
			[]string{`spec.egress[0].source.notPorts[0]: "2000:1000" is not a valid port range`}},
		{"range out of bounds",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":["1:70000"]}}]}`),
			[]string{`spec.ingress[0].destination.ports[0]: "1:70000" is not a valid port range`}},
		{"bad port name",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":["-http-"]}}]}`),
			[]string{`spec.ingress[0].destination.ports[0]: "-http-" is not a valid port or port name`}},
		{"unknown protocol",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"QUIC"}]}`),
			[]string{`spec.ingress[0].protocol: "QUIC" is not a valid protocol`}},
		{"lower-case protocol is not Calico's",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"tcp"}]}`),
			[]string{`spec.ingress[0].protocol: "tcp" is not a valid protocol`}},
		{"protocol number out of range",
			policyWith(`{"ingress":[{"action":"Allow","notProtocol":256}]}`),
			[]string{`spec.ingress[0].notProtocol: "256" is not a valid protocol`}},
		{"ports without protocol",
			policyWith(`{"ingress":[{"action":"Allow","destination":{"ports":[22]}}]}`),
			[]string{"spec.ingress[0].destination.ports: ports need protocol TCP, UDP or SCTP, but the rule has no protocol"}},
		{"ports with ICMP",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"ICMP","destination":{"ports":[22]}}]}`),
			[]string{"spec.ingress[0].destination.ports: ports need protocol TCP, UDP or SCTP, not ICMP"}},
		{"ports with protocol number 17 are fine",
			policyWith(`{"ingress":[{"action":"Allow","protocol":17,"destination":{"ports":[53]}}]}`), nil},
		{"selector syntax error",
			policyWith(`{"selector":"role == 'db' &&","ingress":[{"action":"Allow"}]}`),
			[]string{"spec.selector: selector"}},
		{"rule selector syntax error",
			policyWith(`{"ingress":[{"action":"Allow","source":{"selector":"has(role"}}]}`),
			[]string{"spec.ingress[0].source.selector: selector"}},
		{"unknown action",
			policyWith(`{"ingress":[{"action":"Accept"}]}`),
			[]string{`spec.ingress[0].action: "Accept" is not a valid action (want Allow, Deny, Log or Pass)`}},
		{"missing action",
			policyWith(`{"egress":[{"protocol":"TCP"}]}`),
			[]string{"spec.egress[0].action: must be set"}},
		{"ICMP fields without ICMP protocol",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","icmp":{"type":8}}]}`),
			[]string{"spec.ingress[0].icmp: ICMP fields require protocol ICMP or ICMPv6, not TCP"}},
		{"ICMP code without type",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"ICMP","icmp":{"code":0}}]}`),
			[]string{"spec.ingress[0].icmp.code: an ICMP code needs an ICMP type"}},
		{"ICMP type out of range",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"ICMPv6","icmp":{"type":255}}]}`),
			[]string{"spec.ingress[0].icmp.type: 255 is not an ICMP type (0-254)"}},
		{"ICMPv6 with ipVersion 4",
			policyWith(`{"ingress":[{"action":"Allow","ipVersion":4,"protocol":"ICMPv6"}]}`),
			[]string{"spec.ingress[0].protocol: protocol ICMPv6 requires ipVersion 6"}},
		{"net family against ipVersion",
			policyWith(`{"ingress":[{"action":"Allow","ipVersion":6,"source":{"nets":["10.0.0.0/8"]}}]}`),
			[]string{`spec.ingress[0].source.nets[0]: "10.0.0.0/8" is an IPv4 network but the rule has ipVersion 6`}},
		{"bad ipVersion",
			policyWith(`{"ingress":[{"action":"Allow","ipVersion":5}]}`),
			[]string{"spec.ingress[0].ipVersion: 5 is not 4 or 6"}},
		{"bad type",
			policyWith(`{"types":["Inbound"]}`),
			[]string{`spec.types[0]: "Inbound" is not a policy type`}},
		{"unsupported tier",
			policyWith(`{"tier":"security"}`),
			[]string{`spec.tier: "security" is not supported`}},
		{"http match",
			policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","http":{"methods":["GET"]}}]}`),
			[]string{"spec.ingress[0].http: HTTP matches are an application-layer feature"}},
		{"several errors are all reported",
			policyWith(`{"ingress":[{"action":"Nope","protocol":"XYZ","destination":{"nets":["x"],"ports":[70000]}}]}`),
			[]string{"spec.ingress[0].action", "spec.ingress[0].protocol", "spec.ingress[0].destination.nets[0]", "spec.ingress[0].destination.ports[0]"}},
		{"hep without node", hepWith(`{"interfaceName":"eth0"}`), []string{"spec.node: must be set"}},
		{"hep without interface or IPs", hepWith(`{"node":"n1"}`), []string{"spec: at least one of interfaceName or expectedIPs must be set"}},
		{"hep bad expected IP", hepWith(`{"node":"n1","expectedIPs":["10.0.0.1/32"]}`), []string{`spec.expectedIPs[0]: "10.0.0.1/32" is not a valid IP address`}},
		{"hep bad interface", hepWith(`{"node":"n1","interfaceName":"this-name-is-too-long"}`), []string{"spec.interfaceName"}},
		{"hep all interfaces", hepWith(`{"node":"n1","interfaceName":"*"}`), nil},
		{"hep named port without ports protocol", hepWith(`{"node":"n1","interfaceName":"eth0","ports":[{"name":"mc","protocol":"ICMP","port":11211}]}`),
			[]string{`spec.ports[0].protocol: "ICMP" is not a protocol with ports`}},
		{"bad label value", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"h","labels":{"a":"-x-"}},"spec":{"node":"n","interfaceName":"eth0"}}`,
			[]string{"metadata.labels[a]"}},
		{"bad name", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"Bad_Name"},"spec":{}}`,
			[]string{`metadata.name: "Bad_Name" is not a valid name`}},
		{"network set bad net", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s"},"spec":{"nets":["1.2.3.0/24","nope"]}}`,
			[]string{`spec.nets[1]: "nope" is not a valid IP address or CIDR`}},
		{"felix bad failsafe", `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"failsafeInboundHostPorts":[{"protocol":"icmp","port":0}],"logSeverityScreen":"Loud"}}`,
			[]string{`spec.failsafeInboundHostPorts[0].protocol: "icmp" is not tcp, udp or sctp`, "spec.failsafeInboundHostPorts[0].port: must be between 1 and 65535", `spec.logSeverityScreen: "Loud" is not a log level`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Decode([]byte(c.json))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			err = r.Validate()
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, ok := err.(ErrorList); !ok {
				t.Errorf("error is %T, want ErrorList", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ name, json, want string }{
		{"not JSON", `{"apiVersion":`, "invalid JSON"},
		{"wrong apiVersion", `{"apiVersion":"v1","kind":"HostEndpoint"}`, `apiVersion "v1" is not "projectcalico.org/v3"`},
		{"wrong kind", `{"apiVersion":"projectcalico.org/v3","kind":"IPPool"}`, `kind "IPPool" is not one untrackd reads`},
		{"unknown field", `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"h"},"spec":{"node":"n","interfaceName":"e","bogus":1}}`, `unknown field "bogus"`},
		{"wrong type", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s"},"spec":{"nets":"10.0.0.0/8"}}`, "cannot unmarshal"},
		{"trailing data", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s"}} {}`, "invalid JSON"},
		{"too large", `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"` + strings.Repeat("a", MaxValueBytes) + `"}}`, "at most"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestDecodeKey(t *testing.T) {
	k := Key{Kind: KindGlobalNetworkPolicy, Name: "default.memcached-server"}
	r, err := DecodeKey(k, []byte(seedPolicyJSON))
	if err != nil {
		t.Fatalf("default.<name> key with <name> metadata: %v", err)
	}
	if r.GetMeta().Name != "memcached-server" {
		t.Fatalf("name %q", r.GetMeta().Name)
	}
	if _, err := DecodeKey(Key{Kind: KindGlobalNetworkPolicy, Name: "other"}, []byte(seedPolicyJSON)); err == nil {
		t.Fatal("name mismatch accepted")
	}
	if _, err := DecodeKey(Key{Kind: KindHostEndpoint, Name: "memcached-server"}, []byte(seedPolicyJSON)); err == nil {
		t.Fatal("kind mismatch accepted")
	}
	noName := `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{},"spec":{"nets":["10.0.0.0/8"]}}`
	r, err = DecodeKey(Key{Kind: KindGlobalNetworkSet, Name: "s1"}, []byte(noName))
	if err != nil || r.GetMeta().Name != "s1" {
		t.Fatalf("empty metadata.name: %v %v", r, err)
	}
}

func TestParseKey(t *testing.T) {
	cases := []struct {
		key  string
		want Key
		err  string
	}{
		{"/calico/resources/v3/projectcalico.org/hostendpoints/node1-eth0", Key{KindHostEndpoint, "node1-eth0"}, ""},
		{"/calico/resources/v3/projectcalico.org/globalnetworkpolicies/default.p", Key{KindGlobalNetworkPolicy, "default.p"}, ""},
		{"/calico/resources/v3/projectcalico.org/globalnetworksets/s", Key{KindGlobalNetworkSet, "s"}, ""},
		{"/calico/resources/v3/projectcalico.org/felixconfigurations/node.n1", Key{KindFelixConfiguration, "node.n1"}, ""},
		{"/calico/resources/v3/projectcalico.org/ippools/p", Key{}, "not one untrackd reads"},
		{"/calico/resources/v3/projectcalico.org/hostendpoints/ns/name", Key{}, "namespaced"},
		{"/calico/resources/v3/projectcalico.org/hostendpoints/Bad", Key{}, "not a valid name"},
		{"/elsewhere/x", Key{}, "outside"},
	}
	for _, c := range cases {
		got, err := ParseKey(c.key)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.key, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v", c.key, got, err)
		}
		if got.String() != c.key {
			t.Errorf("round trip %q → %q", c.key, got.String())
		}
	}
}

func TestProfile(t *testing.T) {
	good := `{"apiVersion":"projectcalico.org/v3","kind":"Profile","metadata":{"name":"kns.default"},
		"spec":{"labelsToApply":{"zone":"mgmt"},"ingress":[{"action":"Allow","source":{"selector":"zone == 'mgmt'"}}],"egress":[{"action":"Allow"}]}}`
	r, err := DecodeKey(Key{Kind: KindProfile, Name: "kns.default"}, []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if p := r.(*Profile); p.Spec.LabelsToApply["zone"] != "mgmt" || len(p.Spec.Ingress) != 1 {
		t.Fatalf("decoded %+v", p)
	}
	bad := `{"apiVersion":"projectcalico.org/v3","kind":"Profile","metadata":{"name":"p"},
		"spec":{"labelsToApply":{"-bad":"x"},"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[0]}}]}}`
	r, err = Decode([]byte(bad))
	if err != nil {
		t.Fatal(err)
	}
	err = r.Validate()
	for _, want := range []string{"spec.labelsToApply", `spec.ingress[0].destination.ports[0]: "0" is not a valid port`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
	k, err := ParseKey("/calico/resources/v3/projectcalico.org/profiles/projectcalico-default-allow")
	if err != nil || k.Kind != KindProfile {
		t.Fatalf("profile key: %v %v", k, err)
	}
}
