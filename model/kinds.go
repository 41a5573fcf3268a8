package model

import (
	"fmt"
	"strings"
)

// Kind names a resource type as it appears in the "kind" field.
type Kind string

// The kinds untrackd reads.
const (
	KindHostEndpoint        Kind = "HostEndpoint"
	KindGlobalNetworkPolicy Kind = "GlobalNetworkPolicy"
	KindGlobalNetworkSet    Kind = "GlobalNetworkSet"
	KindFelixConfiguration  Kind = "FelixConfiguration"
	KindProfile             Kind = "Profile"
)

// Kinds lists every supported kind in a fixed order.
var Kinds = []Kind{KindHostEndpoint, KindGlobalNetworkPolicy, KindGlobalNetworkSet, KindFelixConfiguration, KindProfile}

// KeyPrefix is the etcd prefix below which Calico stores v3 resources.
const KeyPrefix = "/calico/resources/v3/projectcalico.org/"

// Plural returns the lower-case plural used in etcd keys for k, or "" if k is
// not a supported kind.
func (k Kind) Plural() string {
	switch k {
	case KindHostEndpoint:
		return "hostendpoints"
	case KindGlobalNetworkPolicy:
		return "globalnetworkpolicies"
	case KindGlobalNetworkSet:
		return "globalnetworksets"
	case KindFelixConfiguration:
		return "felixconfigurations"
	case KindProfile:
		return "profiles"
	}
	return ""
}

// KindForPlural is the inverse of Kind.Plural.
func KindForPlural(plural string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Plural() == plural {
			return k, true
		}
	}
	return "", false
}

// ParseKind accepts a kind name as written in a resource ("HostEndpoint"), case-insensitively,
// or its plural or common short names ("hostendpoints", "hep", "gnp", "gns").
func ParseKind(s string) (Kind, error) {
	l := strings.ToLower(s)
	for _, k := range Kinds {
		if l == strings.ToLower(string(k)) || l == k.Plural() {
			return k, nil
		}
	}
	switch l {
	case "hep", "heps":
		return KindHostEndpoint, nil
	case "gnp", "gnps":
		return KindGlobalNetworkPolicy, nil
	case "gns":
		return KindGlobalNetworkSet, nil
	case "felixconfig", "felixconfigs":
		return KindFelixConfiguration, nil
	case "pro", "pros":
		return KindProfile, nil
	}
	return "", fmt.Errorf("unknown kind %q (want one of HostEndpoint, GlobalNetworkPolicy, GlobalNetworkSet, FelixConfiguration, Profile)", s)
}

// Key identifies one stored resource.
type Key struct {
	Kind Kind
	Name string
}

// String returns the etcd key of k, e.g.
// /calico/resources/v3/projectcalico.org/hostendpoints/node1-eth0.
func (k Key) String() string { return KeyPrefix + k.Kind.Plural() + "/" + k.Name }

// KindPrefix returns the etcd prefix holding every resource of kind k
// (ending in "/").
func KindPrefix(k Kind) string { return KeyPrefix + k.Plural() + "/" }

// ParseKey parses an etcd key in Calico's v3 layout. It rejects keys of
// unsupported kinds, namespaced keys (none of our kinds is namespaced) and
// names that are not valid resource names.
func ParseKey(key string) (Key, error) {
	rest, ok := strings.CutPrefix(key, KeyPrefix)
	if !ok {
		return Key{}, fmt.Errorf("key %q is outside %s", key, KeyPrefix)
	}
	plural, name, ok := strings.Cut(rest, "/")
	if !ok {
		return Key{}, fmt.Errorf("key %q has no resource name", key)
	}
	kind, ok := KindForPlural(plural)
	if !ok {
		return Key{}, fmt.Errorf("key %q: resource type %q is not one untrackd reads", key, plural)
	}
	if strings.Contains(name, "/") {
		return Key{}, fmt.Errorf("key %q: %s are cluster-scoped, a namespaced key is not valid", key, plural)
	}
	if err := validateName(name); err != "" {
		return Key{}, fmt.Errorf("key %q: name %s", key, err)
	}
	return Key{Kind: kind, Name: name}, nil
}
