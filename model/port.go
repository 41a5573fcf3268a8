package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Port is Calico's numorstring.Port: a single port, a range "lo:hi", or the
// name of a named port. In JSON a single port is a number and the other forms
// are strings.
//
// Decoding never fails on a well-formed JSON number or string: a value that is
// not a valid port is kept (Invalid is set) so that validation can report it
// with its field path. Encoding an invalid port writes back what was read.
type Port struct {
	MinPort  uint16
	MaxPort  uint16
	PortName string
	// Invalid holds the original text of a value that is not a valid port.
	Invalid string
}

// SinglePort returns the port p.
func SinglePort(p uint16) Port { return Port{MinPort: p, MaxPort: p} }

// PortRange returns the inclusive range lo..hi.
func PortRange(lo, hi uint16) Port { return Port{MinPort: lo, MaxPort: hi} }

// NamedPort returns a reference to the named port name.
func NamedPort(name string) Port { return Port{PortName: name} }

// portNameRE is the syntax Calico accepts for named ports.
var portNameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9])?$`)

const maxPortNameLen = 128

// ParsePort parses the string form of a port: "80", "1000:2000" or a port
// name. It returns an error for anything else.
func ParsePort(s string) (Port, error) {
	if lo, hi, ok := strings.Cut(s, ":"); ok {
		l, err1 := parsePortNumber(lo)
		h, err2 := parsePortNumber(hi)
		if err1 != nil || err2 != nil || l > h {
			return Port{}, fmt.Errorf("%q is not a valid port range", s)
		}
		return PortRange(l, h), nil
	}
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		p, err := parsePortNumber(s)
		if err != nil {
			return Port{}, fmt.Errorf("%q is not a valid port", s)
		}
		return SinglePort(p), nil
	}
	if len(s) > maxPortNameLen || !portNameRE.MatchString(s) {
		return Port{}, fmt.Errorf("%q is not a valid port or port name", s)
	}
	return NamedPort(s), nil
}

func parsePortNumber(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 || n > 65535 {
		return 0, fmt.Errorf("%q is not a valid port", s)
	}
	return uint16(n), nil
}

// String renders p in its string form ("80", "1000:2000", "http").
func (p Port) String() string {
	switch {
	case p.Invalid != "":
		return p.Invalid
	case p.PortName != "":
		return p.PortName
	case p.MinPort == p.MaxPort:
		return strconv.Itoa(int(p.MinPort))
	default:
		return fmt.Sprintf("%d:%d", p.MinPort, p.MaxPort)
	}
}

// IsNamed reports whether p refers to a named port.
func (p Port) IsNamed() bool { return p.PortName != "" && p.Invalid == "" }

// validate returns "" or the reason p is invalid.
func (p Port) validate() string {
	if p.Invalid != "" {
		if _, err := ParsePort(p.Invalid); err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%q is not a valid port", p.Invalid)
	}
	if p.PortName == "" && (p.MinPort == 0 || p.MinPort > p.MaxPort) {
		return fmt.Sprintf("%q is not a valid port", p.String())
	}
	return ""
}

// MarshalJSON writes a single port as a number and other forms as strings.
func (p Port) MarshalJSON() ([]byte, error) {
	if p.Invalid == "" && p.PortName == "" && p.MinPort == p.MaxPort {
		return []byte(strconv.Itoa(int(p.MinPort))), nil
	}
	return json.Marshal(p.String())
}

// UnmarshalJSON accepts a number or a string (see the type comment).
func (p *Port) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parsed, err := ParsePort(s)
		if err != nil {
			*p = Port{Invalid: s}
			return nil
		}
		*p = parsed
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a port must be a number or a string, not %s", b)
	}
	parsed, err := parsePortNumber(n.String())
	if err != nil {
		*p = Port{Invalid: n.String()}
		return nil
	}
	*p = SinglePort(parsed)
	return nil
}
