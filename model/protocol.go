package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Protocol is Calico's numorstring.Protocol: a name ("TCP", "UDP", "ICMP",
// "ICMPv6", "SCTP", "UDPLite") or an IP protocol number 1–255. Names are
// strings in JSON and numbers are numbers; a name is case-sensitive, as in
// Calico's validator.
type Protocol struct {
	Name string // set when written as a string
	Num  int    // set when written as a number
}

// Protocol names Calico accepts, with their IP protocol numbers.
var protocolNumbers = map[string]uint8{
	"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136,
}

// ProtocolFromName returns the protocol called name.
func ProtocolFromName(name string) *Protocol { return &Protocol{Name: name} }

// ProtocolFromNumber returns the protocol with IP number n.
func ProtocolFromNumber(n int) *Protocol { return &Protocol{Num: n} }

// Number returns the IP protocol number of p, and false if p is invalid.
func (p Protocol) Number() (uint8, bool) {
	if p.Name != "" {
		n, ok := protocolNumbers[p.Name]
		return n, ok
	}
	if p.Num < 1 || p.Num > 255 {
		return 0, false
	}
	return uint8(p.Num), true
}

// HasPorts reports whether p is TCP, UDP or SCTP (by name or number), the
// protocols whose rules may match on ports.
func (p Protocol) HasPorts() bool {
	n, ok := p.Number()
	return ok && (n == 6 || n == 17 || n == 132)
}

// IsICMP reports whether p is ICMP (v4=true) or ICMPv6 (v4=false).
func (p Protocol) IsICMP() (isICMP bool, v4 bool) {
	n, ok := p.Number()
	switch {
	case ok && n == 1:
		return true, true
	case ok && n == 58:
		return true, false
	}
	return false, false
}

// String returns the protocol as written.
func (p Protocol) String() string {
	if p.Name != "" || p.Num == 0 {
		return p.Name
	}
	return strconv.Itoa(p.Num)
}

func (p Protocol) validate() string {
	if _, ok := p.Number(); !ok {
		return fmt.Sprintf("%q is not a valid protocol (want TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1-255)", p.String())
	}
	return ""
}

// MarshalJSON writes a name as a string and a number as a number.
func (p Protocol) MarshalJSON() ([]byte, error) {
	if p.Name != "" {
		return json.Marshal(p.Name)
	}
	return []byte(strconv.Itoa(p.Num)), nil
}

// UnmarshalJSON accepts a string or a number. A string holding digits is
// taken as a number, as Calico does.
func (p *Protocol) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if n, err := strconv.Atoi(s); err == nil {
			*p = Protocol{Num: n}
			return nil
		}
		*p = Protocol{Name: s}
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a protocol must be a name or a number, not %s", b)
	}
	*p = Protocol{Num: n}
	return nil
}
