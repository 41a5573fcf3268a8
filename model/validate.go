package model

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/untrackd/untrackd/model/selector"
)

// Limits on sizes, mirroring Calico's API limits where it has them. They bound
// the work a single resource can cause.
const (
	MaxRulesPerDirection = 1024 // rules per ingress/egress list
	MaxNetsPerEntity     = 256  // nets or notNets per source/destination
	MaxPortsPerEntity    = 50   // ports or notPorts per source/destination
	MaxSelectorLen       = 4096 // bytes in one selector (Calico's CRD says 1024)
	MaxNetworkSetNets    = 100000
	MaxExpectedIPs       = 1024
	MaxLabels            = 256
)

var (
	// nameRE is a DNS subdomain, as Kubernetes and Calico require of names.
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// labelNameRE is the name part of a Kubernetes label key and the
	// syntax of a label value.
	labelNameRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	// ifaceRE is what Linux accepts in an interface name, minus oddities.
	ifaceRE = regexp.MustCompile(`^[^\s/:'"]{1,15}$`)
)

// validateName returns "" or why s is not a valid resource name.
func validateName(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > 253:
		return fmt.Sprintf("%q is longer than 253 characters", truncate(s))
	case !nameRE.MatchString(s):
		return fmt.Sprintf("%q is not a valid name (lower-case letters, digits, '-' and '.')", truncate(s))
	}
	return ""
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func validateMeta(e *errs, m *ObjectMeta) {
	if r := validateName(m.Name); r != "" {
		e.add("metadata.name", "%s", r)
	}
	if m.Namespace != "" {
		e.add("metadata.namespace", "%q given, but the resource is cluster-scoped", m.Namespace)
	}
	if len(m.Labels) > MaxLabels {
		e.add("metadata.labels", "%d labels, at most %d allowed", len(m.Labels), MaxLabels)
	}
	for k, v := range m.Labels {
		if r := validateLabelKey(k); r != "" {
			e.add("metadata.labels", "%s", r)
		}
		if len(v) > 63 || (v != "" && !labelNameRE.MatchString(v)) {
			e.add("metadata.labels["+k+"]", "%q is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending alphanumeric)", truncate(v))
		}
	}
}

// validateLabelKey checks a Kubernetes label key: an optional DNS-subdomain
// prefix and "/", then a name of at most 63 characters.
func validateLabelKey(k string) string {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (len(prefix) > 253 || !nameRE.MatchString(prefix)) {
		return fmt.Sprintf("label key %q has an invalid prefix", truncate(k))
	}
	if len(name) > 63 || !labelNameRE.MatchString(name) {
		return fmt.Sprintf("label key %q is not valid (name part: at most 63 letters, digits, '-', '_' or '.')", truncate(k))
	}
	return ""
}

func validateSelector(e *errs, path, s string) {
	if len(s) > MaxSelectorLen {
		e.add(path, "selector is %d bytes long, at most %d allowed", len(s), MaxSelectorLen)
		return
	}
	if _, err := selector.Parse(s); err != nil {
		e.add(path, "%v", err)
	}
}

// Validate implements Resource.
func (h *HostEndpoint) Validate() error {
	var e errs
	validateMeta(&e, &h.Metadata)
	s := &h.Spec
	if s.Node == "" {
		e.add("spec.node", "must be set")
	} else if r := validateName(s.Node); r != "" {
		e.add("spec.node", "%s", r)
	}
	if s.InterfaceName == "" && len(s.ExpectedIPs) == 0 {
		e.add("spec", "at least one of interfaceName or expectedIPs must be set")
	}
	if s.InterfaceName != "" && s.InterfaceName != AllInterfaces &&
		(!ifaceRE.MatchString(s.InterfaceName) || s.InterfaceName == "." || s.InterfaceName == "..") {
		e.add("spec.interfaceName", "%q is not a valid interface name", truncate(s.InterfaceName))
	}
	if len(s.ExpectedIPs) > MaxExpectedIPs {
		e.add("spec.expectedIPs", "%d addresses, at most %d allowed", len(s.ExpectedIPs), MaxExpectedIPs)
	}
	for i, ip := range s.ExpectedIPs {
		if _, err := ParseIP(ip); err != nil {
			e.add(idx("spec.expectedIPs", i), "%v", err)
		}
	}
	for i, p := range s.Profiles {
		if r := validateName(p); r != "" {
			e.add(idx("spec.profiles", i), "%s", r)
		}
	}
	seen := map[string]bool{}
	for i, p := range s.Ports {
		path := idx("spec.ports", i)
		if len(p.Name) > maxPortNameLen || !portNameRE.MatchString(p.Name) {
			e.add(path+".name", "%q is not a valid port name", truncate(p.Name))
		}
		if !p.Protocol.HasPorts() {
			e.add(path+".protocol", "%q is not a protocol with ports (want TCP, UDP or SCTP)", p.Protocol.String())
		}
		if p.Port == 0 {
			e.add(path+".port", "must be between 1 and 65535")
		}
		key := p.Name + "/" + p.Protocol.String()
		if seen[key] {
			e.add(path, "duplicate named port %q for protocol %s", p.Name, p.Protocol.String())
		}
		seen[key] = true
	}
	return e.err()
}

// Validate implements Resource.
func (s *GlobalNetworkSet) Validate() error {
	var e errs
	validateMeta(&e, &s.Metadata)
	if len(s.Spec.Nets) > MaxNetworkSetNets {
		e.add("spec.nets", "%d entries, at most %d allowed", len(s.Spec.Nets), MaxNetworkSetNets)
		return e.err()
	}
	for i, n := range s.Spec.Nets {
		if _, err := ParseNet(n); err != nil {
			e.add(idx("spec.nets", i), "%v", err)
		}
	}
	return e.err()
}

var logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warning": true, "error": true, "fatal": true, "panic": true}

// hostAddressRE is what Felix accepts as a listen address (healthHost,
// prometheusMetricsHost): an IPv4 or IPv6 address or a host name.
var hostAddressRE = regexp.MustCompile(`^[a-zA-Z0-9:._+-]{1,64}$`)

// Validate implements Resource.
func (c *FelixConfiguration) Validate() error {
	var e errs
	validateMeta(&e, &c.Metadata)
	validateProtoPorts(&e, "spec.failsafeInboundHostPorts", c.Spec.FailsafeInboundHostPorts)
	validateProtoPorts(&e, "spec.failsafeOutboundHostPorts", c.Spec.FailsafeOutboundHostPorts)
	if l := c.Spec.LogSeverityScreen; l != "" && !logLevels[strings.ToLower(l)] {
		e.add("spec.logSeverityScreen", "%q is not a log level (want Debug, Info, Warning, Error or Fatal)", l)
	}
	validateOperational(&e, &c.Spec)
	return e.err()
}

// validateOperational checks the health, metrics and refresh settings with
// Felix's ranges, so that a resource Felix accepts is never rejected here
// (which would also drop its failsafe ports).
func validateOperational(e *errs, s *FelixConfigurationSpec) {
	for _, p := range []struct {
		path string
		port *int
	}{{"spec.healthPort", s.HealthPort}, {"spec.prometheusMetricsPort", s.PrometheusMetricsPort}} {
		if p.port != nil && (*p.port < 0 || *p.port > 65535) {
			e.add(p.path, "%d is not a port (want 0-65535)", *p.port)
		}
	}
	hosts := []struct{ path, host string }{{"spec.prometheusMetricsHost", s.PrometheusMetricsHost}}
	if s.HealthHost != nil {
		hosts = append(hosts, struct{ path, host string }{"spec.healthHost", *s.HealthHost})
	}
	for _, h := range hosts {
		if h.host != "" && !hostAddressRE.MatchString(h.host) {
			e.add(h.path, "%q is not an IP address or host name", truncate(h.host))
		}
	}
	if s.HealthHost != nil && *s.HealthHost == "" {
		e.add("spec.healthHost", "must not be empty")
	}
	if r := s.NftablesRefreshInterval; r != nil {
		if d, err := time.ParseDuration(*r); err != nil {
			e.add("spec.nftablesRefreshInterval", "%q is not a duration (e.g. 90s)", truncate(*r))
		} else if d < 0 {
			e.add("spec.nftablesRefreshInterval", "%q must not be negative", *r)
		}
	}
}

func validateProtoPorts(e *errs, path string, pps *[]ProtoPort) {
	if pps == nil {
		return
	}
	for i, pp := range *pps {
		p := idx(path, i)
		switch strings.ToLower(pp.Protocol) {
		case "", "tcp", "udp", "sctp":
		default:
			e.add(p+".protocol", "%q is not tcp, udp or sctp", pp.Protocol)
		}
		if pp.Port == 0 {
			e.add(p+".port", "must be between 1 and 65535")
		}
		if pp.Net != "" {
			if _, err := ParseNet(pp.Net); err != nil {
				e.add(p+".net", "%v", err)
			}
		}
	}
}

// Validate implements Resource.
func (p *GlobalNetworkPolicy) Validate() error {
	var e errs
	name, _ := NormalizePolicyName(p.Metadata.Name)
	meta := p.Metadata
	meta.Name = name
	validateMeta(&e, &meta)
	s := &p.Spec
	if s.Tier != "" && s.Tier != DefaultTier {
		e.add("spec.tier", "%q is not supported: untrackd enforces only the %q tier", s.Tier, DefaultTier)
	}
	if s.Order != nil && (math.IsNaN(*s.Order) || math.IsInf(*s.Order, 0)) {
		e.add("spec.order", "must be a finite number")
	}
	validateSelector(&e, "spec.selector", s.Selector)
	if s.NamespaceSelector != "" {
		validateSelector(&e, "spec.namespaceSelector", s.NamespaceSelector)
	}
	if s.ServiceAccountSelector != "" {
		validateSelector(&e, "spec.serviceAccountSelector", s.ServiceAccountSelector)
	}
	seenType := map[PolicyType]bool{}
	for i, t := range s.Types {
		if t != PolicyTypeIngress && t != PolicyTypeEgress {
			e.add(idx("spec.types", i), "%q is not a policy type (want Ingress or Egress)", t)
		} else if seenType[t] {
			e.add(idx("spec.types", i), "%q is listed twice", t)
		}
		seenType[t] = true
	}
	for i, h := range s.PerformanceHints {
		if h != "AssumeNeededOnEveryNode" {
			e.add(idx("spec.performanceHints", i), "%q is not a known hint (want AssumeNeededOnEveryNode)", h)
		}
	}
	if s.DoNotTrack && s.PreDNAT {
		e.add("spec", "preDNAT and doNotTrack cannot both be true")
	}
	if s.DoNotTrack && !s.ApplyOnForward {
		e.add("spec.applyOnForward", "must be true when doNotTrack is true")
	}
	if s.PreDNAT && !s.ApplyOnForward {
		e.add("spec.applyOnForward", "must be true when preDNAT is true")
	}
	if s.PreDNAT && len(s.Egress) > 0 {
		e.add("spec.egress", "preDNAT policy cannot have egress rules")
	}
	if s.PreDNAT && seenType[PolicyTypeEgress] {
		e.add("spec.types", "preDNAT policy cannot have the Egress type")
	}
	validateRules(&e, "spec.ingress", s.Ingress)
	validateRules(&e, "spec.egress", s.Egress)
	return e.err()
}

func validateRules(e *errs, path string, rules []Rule) {
	if len(rules) > MaxRulesPerDirection {
		e.add(path, "%d rules, at most %d allowed", len(rules), MaxRulesPerDirection)
		return
	}
	for i := range rules {
		validateRule(e, idx(path, i), &rules[i])
	}
}

func validateRule(e *errs, path string, r *Rule) {
	switch r.Action {
	case Allow, Deny, Log, Pass:
	case "":
		e.add(path+".action", "must be set (Allow, Deny, Log or Pass)")
	default:
		e.add(path+".action", "%q is not a valid action (want Allow, Deny, Log or Pass)", r.Action)
	}
	if r.IPVersion != nil && *r.IPVersion != 4 && *r.IPVersion != 6 {
		e.add(path+".ipVersion", "%d is not 4 or 6", *r.IPVersion)
	}
	if r.Protocol != nil {
		if m := r.Protocol.validate(); m != "" {
			e.add(path+".protocol", "%s", m)
		}
		validateICMPVersion(e, path+".protocol", *r.Protocol, r.IPVersion)
	}
	if r.NotProtocol != nil {
		if m := r.NotProtocol.validate(); m != "" {
			e.add(path+".notProtocol", "%s", m)
		}
		validateICMPVersion(e, path+".notProtocol", *r.NotProtocol, r.IPVersion)
	}
	validateICMP(e, path+".icmp", r.ICMP, r.Protocol)
	validateICMP(e, path+".notICMP", r.NotICMP, r.Protocol)
	if r.HTTP != nil {
		e.add(path+".http", "HTTP matches are an application-layer feature that untrackd cannot enforce")
	}
	validateEntity(e, path+".source", &r.Source, r)
	validateEntity(e, path+".destination", &r.Destination, r)
}

func validateICMPVersion(e *errs, path string, p Protocol, ipVersion *int) {
	isICMP, v4 := p.IsICMP()
	if !isICMP || ipVersion == nil {
		return
	}
	if v4 && *ipVersion != 4 {
		e.add(path, "protocol ICMP requires ipVersion 4")
	}
	if !v4 && *ipVersion != 6 {
		e.add(path, "protocol ICMPv6 requires ipVersion 6")
	}
}

func validateICMP(e *errs, path string, f *ICMPFields, proto *Protocol) {
	if f == nil {
		return
	}
	if proto == nil {
		e.add(path, "ICMP fields require protocol ICMP or ICMPv6")
	} else if isICMP, _ := proto.IsICMP(); !isICMP {
		e.add(path, "ICMP fields require protocol ICMP or ICMPv6, not %s", proto.String())
	}
	if f.Type != nil && (*f.Type < 0 || *f.Type > 254) {
		e.add(path+".type", "%d is not an ICMP type (0-254)", *f.Type)
	}
	if f.Code != nil {
		if f.Type == nil {
			e.add(path+".code", "an ICMP code needs an ICMP type")
		}
		if *f.Code < 0 || *f.Code > 255 {
			e.add(path+".code", "%d is not an ICMP code (0-255)", *f.Code)
		}
	}
}

func validateEntity(e *errs, path string, er *EntityRule, r *Rule) {
	validateNets(e, path+".nets", er.Nets, r.IPVersion)
	validateNets(e, path+".notNets", er.NotNets, r.IPVersion)
	if er.Selector != "" {
		validateSelector(e, path+".selector", er.Selector)
	}
	if er.NotSelector != "" {
		validateSelector(e, path+".notSelector", er.NotSelector)
	}
	if er.NamespaceSelector != "" {
		validateSelector(e, path+".namespaceSelector", er.NamespaceSelector)
	}
	if er.ServiceAccounts != nil && er.ServiceAccounts.Selector != "" {
		validateSelector(e, path+".serviceAccounts.selector", er.ServiceAccounts.Selector)
	}
	if er.Services != nil && er.Services.Name == "" {
		e.add(path+".services.name", "must be set")
	}
	validatePorts(e, path+".ports", er.Ports, r.Protocol)
	validatePorts(e, path+".notPorts", er.NotPorts, r.Protocol)
}

func validateNets(e *errs, path string, nets []string, ipVersion *int) {
	if len(nets) > MaxNetsPerEntity {
		e.add(path, "%d entries, at most %d allowed", len(nets), MaxNetsPerEntity)
		return
	}
	for i, n := range nets {
		p, err := ParseNet(n)
		if err != nil {
			e.add(idx(path, i), "%v", err)
			continue
		}
		if ipVersion != nil {
			v := 6
			if p.Addr().Is4() {
				v = 4
			}
			if v != *ipVersion {
				e.add(idx(path, i), "%q is an IPv%d network but the rule has ipVersion %d", n, v, *ipVersion)
			}
		}
	}
}

func validatePorts(e *errs, path string, ports []Port, proto *Protocol) {
	if len(ports) == 0 {
		return
	}
	if len(ports) > MaxPortsPerEntity {
		e.add(path, "%d entries, at most %d allowed", len(ports), MaxPortsPerEntity)
		return
	}
	if proto == nil {
		e.add(path, "ports need protocol TCP, UDP or SCTP, but the rule has no protocol")
	} else if !proto.HasPorts() {
		e.add(path, "ports need protocol TCP, UDP or SCTP, not %s", proto.String())
	}
	for i, p := range ports {
		if m := p.validate(); m != "" {
			e.add(idx(path, i), "%s", m)
		}
	}
}
