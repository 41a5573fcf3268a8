package calc

import (
	"strings"

	gproto "google.golang.org/protobuf/proto"

	"github.com/untrackd/untrackd/model"
	"github.com/untrackd/untrackd/proto"
)

// configResolver merges the FelixConfigurations "default" and
// "node.<nodename>" (the latter wins field by field) into the dataplane's
// ConfigUpdate.
type configResolver struct {
	nodeName  string
	seq       *Sequencer
	def, node *model.FelixConfigurationSpec
	last      *proto.ConfigUpdate
}

func newConfigResolver(nodeName string, seq *Sequencer) *configResolver {
	return &configResolver{nodeName: nodeName, seq: seq}
}

// set records FelixConfiguration name (nil: absent).
func (c *configResolver) set(name string, fc *model.FelixConfiguration) {
	var spec *model.FelixConfigurationSpec
	if fc != nil {
		spec = &fc.Spec
	}
	switch name {
	case "default":
		c.def = spec
	case "node." + c.nodeName:
		c.node = spec
	default:
		return
	}
	c.flush()
}

// flush sends the effective configuration if it differs from the last one
// sent (or none was sent yet).
func (c *configResolver) flush() {
	u := &proto.ConfigUpdate{
		FailsafeInbound:  protoPorts(c.pick(func(s *model.FelixConfigurationSpec) *[]model.ProtoPort { return s.FailsafeInboundHostPorts }, model.DefaultFailsafeInbound)),
		FailsafeOutbound: protoPorts(c.pick(func(s *model.FelixConfigurationSpec) *[]model.ProtoPort { return s.FailsafeOutboundHostPorts }, model.DefaultFailsafeOutbound)),
		LogSeverity:      c.logSeverity(),
	}
	if c.last != nil && gproto.Equal(c.last, u) {
		return
	}
	c.last = u
	c.seq.OnConfigUpdate(u)
}

// pick returns the node value of a field if set, else the default
// resource's, else def.
func (c *configResolver) pick(field func(*model.FelixConfigurationSpec) *[]model.ProtoPort, def []model.ProtoPort) []model.ProtoPort {
	for _, s := range []*model.FelixConfigurationSpec{c.node, c.def} {
		if s != nil {
			if v := field(s); v != nil {
				return *v
			}
		}
	}
	return def
}

// logSeverity returns logSeverityScreen from the node resource if set, else
// from the default one, else "".
func (c *configResolver) logSeverity() string {
	for _, s := range []*model.FelixConfigurationSpec{c.node, c.def} {
		if s != nil && s.LogSeverityScreen != "" {
			return s.LogSeverityScreen
		}
	}
	return ""
}

func protoPorts(in []model.ProtoPort) []*proto.ProtoPort {
	out := make([]*proto.ProtoPort, 0, len(in))
	for _, p := range in {
		proto_ := strings.ToLower(p.Protocol)
		if proto_ == "" {
			proto_ = "tcp"
		}
		net := ""
		if p.Net != "" {
			if n, err := model.ParseNet(p.Net); err == nil {
				net = n.String()
			}
		}
		out = append(out, &proto.ProtoPort{Protocol: proto_, Port: uint32(p.Port), Net: net})
	}
	return out
}
