package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// FelixConfiguration is a projectcalico.org/v3 FelixConfiguration. untrackd
// reads the one named "default" and the one named "node.<nodename>" (the
// latter wins field by field).
type FelixConfiguration struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta             `json:"metadata"`
	Spec     FelixConfigurationSpec `json:"spec"`
}

// FelixConfigurationSpec holds the FelixConfiguration fields untrackd uses.
//
// Felix has well over a hundred configuration fields; an existing Calico
// datastore sets many untrackd has no use for. Those are kept verbatim in
// Other (so a resource re-encodes unchanged) and otherwise ignored; the
// fields below are decoded strictly.
type FelixConfigurationSpec struct {
	// FailsafeInboundHostPorts replaces the default inbound failsafe ports
	// when non-nil; an empty list disables them.
	FailsafeInboundHostPorts *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	// FailsafeOutboundHostPorts is the outbound counterpart.
	FailsafeOutboundHostPorts *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
	// LogSeverityScreen sets the log level: Debug, Info, Warning, Error or Fatal.
	LogSeverityScreen string `json:"logSeverityScreen,omitempty"`

	// Other holds every other field, undecoded.
	Other map[string]json.RawMessage `json:"-"`
}

// ProtoPort is a failsafe port: a protocol, a port and optionally a CIDR
// restricting the remote address.
type ProtoPort struct {
	Protocol string `json:"protocol"`
	Port     uint16 `json:"port"`
	Net      string `json:"net,omitempty"`
}

// String renders p as "tcp:22" or "tcp:10.0.0.0/8:22".
func (p ProtoPort) String() string {
	proto := strings.ToLower(p.Protocol)
	if proto == "" {
		proto = "tcp"
	}
	if p.Net != "" {
		return fmt.Sprintf("%s:%s:%d", proto, p.Net, p.Port)
	}
	return fmt.Sprintf("%s:%d", proto, p.Port)
}

// knownFelixFields are the JSON names of the typed fields of
// FelixConfigurationSpec.
var knownFelixFields = map[string]bool{
	"failsafeInboundHostPorts":  true,
	"failsafeOutboundHostPorts": true,
	"logSeverityScreen":         true,
}

type felixSpecFields struct {
	FailsafeInboundHostPorts  *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	FailsafeOutboundHostPorts *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
	LogSeverityScreen         string       `json:"logSeverityScreen,omitempty"`
}

// UnmarshalJSON decodes the typed fields strictly and keeps the rest in Other.
func (s *FelixConfigurationSpec) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	known := map[string]json.RawMessage{}
	other := map[string]json.RawMessage{}
	for k, v := range all {
		if knownFelixFields[k] {
			known[k] = v
		} else {
			other[k] = v
		}
	}
	kb, err := json.Marshal(known)
	if err != nil {
		return err
	}
	var f felixSpecFields
	dec := json.NewDecoder(bytes.NewReader(kb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return err
	}
	*s = FelixConfigurationSpec{
		FailsafeInboundHostPorts:  f.FailsafeInboundHostPorts,
		FailsafeOutboundHostPorts: f.FailsafeOutboundHostPorts,
		LogSeverityScreen:         f.LogSeverityScreen,
	}
	if len(other) > 0 {
		s.Other = other
	}
	return nil
}

// MarshalJSON writes the typed fields and Other, sorted by key.
func (s FelixConfigurationSpec) MarshalJSON() ([]byte, error) {
	kb, err := json.Marshal(felixSpecFields{
		FailsafeInboundHostPorts:  s.FailsafeInboundHostPorts,
		FailsafeOutboundHostPorts: s.FailsafeOutboundHostPorts,
		LogSeverityScreen:         s.LogSeverityScreen,
	})
	if err != nil {
		return nil, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(kb, &all); err != nil {
		return nil, err
	}
	for k, v := range s.Other {
		if !knownFelixFields[k] {
			all[k] = v
		}
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		buf.Write(kj)
		buf.WriteByte(':')
		buf.Write(all[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// GetKind implements Resource.
func (c *FelixConfiguration) GetKind() Kind { return KindFelixConfiguration }

// GetMeta implements Resource.
func (c *FelixConfiguration) GetMeta() *ObjectMeta { return &c.Metadata }
