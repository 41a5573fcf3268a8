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

	// The operational settings below have Felix's names, types and value
	// ranges; untrackd's daemon honours them below its local configuration
	// (see docs/configuration.md). Nil or empty means unset.

	// HealthEnabled turns the /liveness, /readiness and /status server on or off.
	HealthEnabled *bool `json:"healthEnabled,omitempty"`
	// HealthHost is the address the health server binds to.
	HealthHost *string `json:"healthHost,omitempty"`
	// HealthPort is the health server's TCP port (0-65535).
	HealthPort *int `json:"healthPort,omitempty"`
	// PrometheusMetricsEnabled turns the /metrics server on or off.
	PrometheusMetricsEnabled *bool `json:"prometheusMetricsEnabled,omitempty"`
	// PrometheusMetricsHost is the address the metrics server binds to.
	PrometheusMetricsHost string `json:"prometheusMetricsHost,omitempty"`
	// PrometheusMetricsPort is the metrics server's TCP port (0-65535).
	PrometheusMetricsPort *int `json:"prometheusMetricsPort,omitempty"`
	// PrometheusGoMetricsEnabled exports the Go runtime's metrics (go_*).
	PrometheusGoMetricsEnabled *bool `json:"prometheusGoMetricsEnabled,omitempty"`
	// PrometheusProcessMetricsEnabled exports process metrics (process_*).
	PrometheusProcessMetricsEnabled *bool `json:"prometheusProcessMetricsEnabled,omitempty"`
	// NftablesRefreshInterval is how often the kernel table is re-read and
	// repaired, as a Go duration string ("90s", "1m30s"; Kubernetes'
	// metav1.Duration encoding); "0s" disables the refresh.
	NftablesRefreshInterval *string `json:"nftablesRefreshInterval,omitempty"`

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

	"healthEnabled":                   true,
	"healthHost":                      true,
	"healthPort":                      true,
	"prometheusMetricsEnabled":        true,
	"prometheusMetricsHost":           true,
	"prometheusMetricsPort":           true,
	"prometheusGoMetricsEnabled":      true,
	"prometheusProcessMetricsEnabled": true,
	"nftablesRefreshInterval":         true,
}

type felixSpecFields struct {
	FailsafeInboundHostPorts  *[]ProtoPort `json:"failsafeInboundHostPorts,omitempty"`
	FailsafeOutboundHostPorts *[]ProtoPort `json:"failsafeOutboundHostPorts,omitempty"`
	LogSeverityScreen         string       `json:"logSeverityScreen,omitempty"`

	HealthEnabled                   *bool   `json:"healthEnabled,omitempty"`
	HealthHost                      *string `json:"healthHost,omitempty"`
	HealthPort                      *int    `json:"healthPort,omitempty"`
	PrometheusMetricsEnabled        *bool   `json:"prometheusMetricsEnabled,omitempty"`
	PrometheusMetricsHost           string  `json:"prometheusMetricsHost,omitempty"`
	PrometheusMetricsPort           *int    `json:"prometheusMetricsPort,omitempty"`
	PrometheusGoMetricsEnabled      *bool   `json:"prometheusGoMetricsEnabled,omitempty"`
	PrometheusProcessMetricsEnabled *bool   `json:"prometheusProcessMetricsEnabled,omitempty"`
	NftablesRefreshInterval         *string `json:"nftablesRefreshInterval,omitempty"`
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
	s.setOperational(f)
	if len(other) > 0 {
		s.Other = other
	}
	return nil
}

// MarshalJSON writes the typed fields and Other, sorted by key.
func (s FelixConfigurationSpec) MarshalJSON() ([]byte, error) {
	f := felixSpecFields{
		FailsafeInboundHostPorts:  s.FailsafeInboundHostPorts,
		FailsafeOutboundHostPorts: s.FailsafeOutboundHostPorts,
		LogSeverityScreen:         s.LogSeverityScreen,
	}
	s.getOperational(&f)
	kb, err := json.Marshal(f)
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

// setOperational copies the operational settings from their decoded form.
func (s *FelixConfigurationSpec) setOperational(f felixSpecFields) {
	s.HealthEnabled, s.HealthHost, s.HealthPort = f.HealthEnabled, f.HealthHost, f.HealthPort
	s.PrometheusMetricsEnabled, s.PrometheusMetricsHost, s.PrometheusMetricsPort =
		f.PrometheusMetricsEnabled, f.PrometheusMetricsHost, f.PrometheusMetricsPort
	s.PrometheusGoMetricsEnabled, s.PrometheusProcessMetricsEnabled = f.PrometheusGoMetricsEnabled, f.PrometheusProcessMetricsEnabled
	s.NftablesRefreshInterval = f.NftablesRefreshInterval
}

// getOperational copies the operational settings to their encoded form.
func (s *FelixConfigurationSpec) getOperational(f *felixSpecFields) {
	f.HealthEnabled, f.HealthHost, f.HealthPort = s.HealthEnabled, s.HealthHost, s.HealthPort
	f.PrometheusMetricsEnabled, f.PrometheusMetricsHost, f.PrometheusMetricsPort =
		s.PrometheusMetricsEnabled, s.PrometheusMetricsHost, s.PrometheusMetricsPort
	f.PrometheusGoMetricsEnabled, f.PrometheusProcessMetricsEnabled = s.PrometheusGoMetricsEnabled, s.PrometheusProcessMetricsEnabled
	f.NftablesRefreshInterval = s.NftablesRefreshInterval
}

// GetKind implements Resource.
func (c *FelixConfiguration) GetKind() Kind { return KindFelixConfiguration }

// GetMeta implements Resource.
func (c *FelixConfiguration) GetMeta() *ObjectMeta { return &c.Metadata }
