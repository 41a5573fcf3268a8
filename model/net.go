package model

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseNet parses a CIDR or a bare address (a single host) as Calico accepts
// them in nets, notNets and GlobalNetworkSets. Host bits are cleared, so
// "10.1.2.3/8" gives 10.0.0.0/8. IPv4-mapped IPv6 addresses are kept as IPv6.
func ParseNet(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid IP address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseIP parses a single IP address (no zone).
func ParseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q is not a valid IP address", s)
	}
	return a, nil
}
