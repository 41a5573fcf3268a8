package model

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MaxValueBytes bounds the size of one encoded resource. etcd's default
// request limit is 1.5 MiB, so nothing larger can be stored in practice.
const MaxValueBytes = 2 << 20

// New returns an empty resource of kind k, or nil if k is unknown.
func New(k Kind) Resource {
	switch k {
	case KindHostEndpoint:
		return &HostEndpoint{}
	case KindGlobalNetworkPolicy:
		return &GlobalNetworkPolicy{}
	case KindGlobalNetworkSet:
		return &GlobalNetworkSet{}
	case KindFelixConfiguration:
		return &FelixConfiguration{}
	case KindProfile:
		return &Profile{}
	}
	return nil
}

// Decode parses one resource from JSON (one JSON value, nothing after it),
// strictly: the apiVersion must be
// projectcalico.org/v3, the kind one untrackd knows, and every field one the
// kind defines (FelixConfiguration excepted, see FelixConfigurationSpec).
// Decode does not validate; call Validate on the result.
func Decode(data []byte) (Resource, error) {
	if len(data) > MaxValueBytes {
		return nil, fmt.Errorf("value is %d bytes, at most %d allowed", len(data), MaxValueBytes)
	}
	var tm TypeMeta
	if err := json.Unmarshal(data, &tm); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if tm.APIVersion != APIVersion {
		return nil, fmt.Errorf("apiVersion %q is not %q", tm.APIVersion, APIVersion)
	}
	k, err := ParseKind(tm.Kind)
	if err != nil || string(k) != tm.Kind {
		return nil, fmt.Errorf("kind %q is not one untrackd reads (HostEndpoint, GlobalNetworkPolicy, GlobalNetworkSet, FelixConfiguration, Profile)", tm.Kind)
	}
	r := New(k)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", k, err)
	}
	return r, nil
}

// DecodeKey decodes the value stored at key and checks that it belongs there:
// its kind must match the key's and its metadata.name must be the key's name
// (or be empty, in which case the key's name is filled in). For policies,
// "default.<name>" and "<name>" are treated as equal. The returned resource is
// validated; a non-nil error means the value must be treated as absent.
func DecodeKey(key Key, data []byte) (Resource, error) {
	r, err := Decode(data)
	if err != nil {
		return nil, err
	}
	if r.GetKind() != key.Kind {
		return nil, fmt.Errorf("kind %s stored under a %s key", r.GetKind(), key.Kind.Plural())
	}
	m := r.GetMeta()
	switch {
	case m.Name == "":
		m.Name = key.Name
	case m.Name != key.Name && !samePolicyName(key.Kind, m.Name, key.Name):
		return nil, fmt.Errorf("metadata.name %q does not match the key's name %q", truncate(m.Name), key.Name)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

func samePolicyName(k Kind, a, b string) bool {
	if k != KindGlobalNetworkPolicy {
		return false
	}
	na, _ := NormalizePolicyName(a)
	nb, _ := NormalizePolicyName(b)
	return na == nb
}

// Encode returns r as Calico stores it: compact JSON with apiVersion and kind
// set. It does not modify r.
func Encode(r Resource) ([]byte, error) {
	tm := TypeMeta{APIVersion: APIVersion, Kind: string(r.GetKind())}
	switch v := r.(type) {
	case *HostEndpoint:
		c := *v
		c.TypeMeta = tm
		return json.Marshal(&c)
	case *GlobalNetworkPolicy:
		c := *v
		c.TypeMeta = tm
		return json.Marshal(&c)
	case *GlobalNetworkSet:
		c := *v
		c.TypeMeta = tm
		return json.Marshal(&c)
	case *FelixConfiguration:
		c := *v
		c.TypeMeta = tm
		return json.Marshal(&c)
	case *Profile:
		c := *v
		c.TypeMeta = tm
		return json.Marshal(&c)
	}
	return nil, fmt.Errorf("encode: unknown resource type %T", r)
}
