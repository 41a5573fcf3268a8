package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxErrorBytes bounds the error text of one resource, whatever its size:
// it is logged as one line.
const maxErrorBytes = 64 << 10

// FuzzDecode feeds arbitrary bytes to the decoder the datastore uses, as
// if stored at a key of each kind: nothing panics; a value that does not
// decode or validate gives a nil resource and a bounded, valid UTF-8 error;
// a valid resource encodes, and its encoding decodes and validates to the
// same resource (empty containers aside) and, from then on, to the same
// bytes. The seed corpus
// (testdata/fuzz/FuzzDecode, plus the values below) holds a valid resource
// of every kind and typical invalid ones.
//
//	go test -run='^$' -fuzz=FuzzDecode -fuzztime=5m ./model
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		seedPolicyJSON,
		policyWith(`{"order":10,"selector":"has(a) && b in {'x','y'}","types":["Ingress","Egress"],"ingress":[{"action":"Deny","protocol":"UDP","notProtocol":"TCP","source":{"nets":["10.0.0.0/8","fd00::/64"],"notSelector":"c == 'd'","ports":["1000:2000","http"]},"icmp":{"type":8,"code":0}}],"egress":[{"action":"Log"},{"action":"Pass"}]}`),
		policyWith(`{"preDNAT":true,"applyOnForward":true,"ingress":[{"action":"Allow","destination":{"notNets":["192.168.0.0/16"],"notPorts":[22]}}]}`),
		hepWith(`{"node":"n1","interfaceName":"eth0","expectedIPs":["10.0.0.1","fd00::1"],"profiles":["projectcalico-default-allow"],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}`),
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s","labels":{"k":"v"}},"spec":{"nets":["10.1.0.0/16","2001:db8::/32"]}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},"spec":{"logSeverityScreen":"Debug","healthPort":9099,"nftablesRefreshInterval":"90s","failsafeInboundHostPorts":[{"protocol":"TCP","port":22,"net":"10.0.0.0/8"}],"bpfEnabled":false}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"Profile","metadata":{"name":"p"},"spec":{"labelsToApply":{"a":"b"},"ingress":[{"action":"Allow"}]}}`,
		`{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{`,
		`{"apiVersion":"projectcalico.org/v3","kind":"NetworkPolicy","metadata":{"name":"x"}}`,
		policyWith(`{"selectorr":"all()"}`),
		policyWith(`{"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[99999,"2000:1000","-x-"]}}]}`),
		hepWith(`{"node":"n1","interfaceName":"a very long interface name"}`),
		`{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"h","labels":{"a":"x` + strings.Repeat("ü", 40) + `"}},"spec":{"node":"n"}}`,
		`null`, `[]`, `{}`, `"x"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(data)
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned a resource with error %v", err)
			}
			checkErrorText(t, err)
		} else {
			checkResource(t, r)
		}
		// As stored at a key of each kind (the datastore's path).
		for _, k := range Kinds {
			r, err := DecodeKey(Key{Kind: k, Name: "fuzz"}, data)
			switch {
			case err != nil && r != nil:
				t.Fatalf("DecodeKey(%s) returned a resource with error %v", k, err)
			case err != nil:
				checkErrorText(t, err)
			case r.GetKind() != k:
				t.Fatalf("DecodeKey(%s) decoded a %s", k, r.GetKind())
			default:
				if verr := r.Validate(); verr != nil {
					t.Fatalf("DecodeKey(%s) returned a resource that does not validate: %v", k, verr)
				}
				checkResource(t, r)
			}
		}
	})
}

// checkErrorText checks that an error says something, in valid UTF-8, in
// bounded space.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	s := err.Error()
	if s == "" || len(s) > maxErrorBytes || !utf8.ValidString(s) {
		t.Fatalf("bad error text (%d bytes, valid UTF-8 %v): %.200q", len(s), utf8.ValidString(s), s)
	}
	var list ErrorList
	if errors.As(err, &list) && len(list) == 0 {
		t.Fatal("empty ErrorList returned as an error")
	}
}

// checkResource checks that a decoded resource validates without panicking
// and that a valid one survives an encode/decode round trip.
func checkResource(t *testing.T, r Resource) {
	t.Helper()
	if err := r.Validate(); err != nil {
		checkErrorText(t, err)
		return
	}
	enc, err := Encode(r)
	if err != nil {
		t.Fatalf("Encode of a valid %s: %v", r.GetKind(), err)
	}
	r2, err := Decode(enc)
	if err != nil {
		t.Fatalf("the encoding of a valid %s does not decode: %v\n%s", r.GetKind(), err, enc)
	}
	if err := r2.Validate(); err != nil {
		t.Fatalf("the encoding of a valid %s does not validate: %v\n%s", r.GetKind(), err, enc)
	}
	enc2, err := Encode(r2)
	if err != nil {
		t.Fatalf("Encode of a re-decoded %s: %v", r.GetKind(), err)
	}
	// The first round may drop empty containers (an entity rule given
	// only empty lists encodes as {}, which decodes to the zero rule and
	// is then omitted); nothing else may change, and from then on the
	// encoding is a fixed point.
	if !sameJSON(enc, enc2) {
		t.Fatalf("the round trip changed the resource:\n%s\n%s", enc, enc2)
	}
	r3, err := Decode(enc2)
	if err != nil {
		t.Fatalf("the second encoding does not decode: %v\n%s", err, enc2)
	}
	if enc3, err := Encode(r3); err != nil || !bytes.Equal(enc2, enc3) {
		t.Fatalf("encoding not stable (%v):\n%s\n%s", err, enc2, enc3)
	}
}

// sameJSON reports whether a and b hold the same JSON once empty objects
// and arrays are removed.
func sameJSON(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(pruneEmpty(va), pruneEmpty(vb))
}

func pruneEmpty(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = pruneEmpty(e)
			if m, ok := e.(map[string]any); ok && len(m) == 0 {
				delete(x, k)
			} else if l, ok := e.([]any); ok && len(l) == 0 {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
	case []any:
		for i, e := range x {
			x[i] = pruneEmpty(e)
		}
	}
	return v
}

// TestDecodeErrorBounded checks that the largest invalid values etcd can
// hold give errors of bounded size: every entry of a 100,000-net network
// set, or of 1,024 rules of 256 nets, is invalid.
func TestDecodeErrorBounded(t *testing.T) {
	nets := strings.TrimSuffix(strings.Repeat(`"x",`, MaxNetworkSetNets), ",")
	rule := `{"action":"Allow","source":{"nets":[` + strings.TrimSuffix(strings.Repeat(`"x",`, MaxNetsPerEntity), ",") + `]}}`
	for name, v := range map[string]string{
		"network set": `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"p"},"spec":{"nets":[` + nets + `]}}`,
		"policy":      policyWith(`{"ingress":[` + strings.TrimSuffix(strings.Repeat(rule+",", MaxRulesPerDirection), ",") + `]}`),
	} {
		r, err := Decode([]byte(v))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = r.Validate()
		var list ErrorList
		if !errors.As(err, &list) || len(list) != MaxFieldErrors+1 || !strings.Contains(list[MaxFieldErrors].Reason, "more problems") {
			t.Fatalf("%s: %d problems listed", name, len(list))
		}
		checkErrorText(t, err)
		t.Logf("%s of %d bytes: error of %d bytes, ending %q", name, len(v), len(err.Error()), list[MaxFieldErrors].Reason)
	}
}
