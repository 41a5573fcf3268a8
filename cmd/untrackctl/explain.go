package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/untrackd/untrackd/calc/reference"
	"github.com/untrackd/untrackd/cmd/internal/cliconf"
	"github.com/untrackd/untrackd/dataplane/ifacemon"
	"github.com/untrackd/untrackd/model"
)

// explain says which policy and rule decide a packet, and whether it is
// tracked, from the resources in etcd and the policy semantics alone (the
// reference evaluator, calc/reference): what untrackd is meant to do, for
// comparing with what the kernel does.
func (c *ctl) explain(ctx context.Context, args []string) error {
	var node, in, out, src, dst, proto, dir string
	var sport, dport, icmpType, icmpCode uint
	host, _ := os.Hostname()
	f, err := c.parse("explain", args, false, func(f *commandFlags) {
		f.fs.StringVar(&node, "node", host, "node whose host endpoints apply")
		f.fs.StringVar(&in, "iface", "", "interface the packet arrives on (ingress, forward)")
		f.fs.StringVar(&out, "out-iface", "", "interface the packet leaves by (egress, forward)")
		f.fs.StringVar(&dir, "direction", "", "ingress, egress or forward (default: from the interfaces given)")
		f.fs.StringVar(&src, "src", "", "source address")
		f.fs.StringVar(&dst, "dst", "", "destination address")
		f.fs.StringVar(&proto, "proto", "tcp", "protocol: tcp, udp, sctp, icmp, icmpv6 or a number")
		f.fs.UintVar(&sport, "sport", 40000, "source port")
		f.fs.UintVar(&dport, "dport", 0, "destination port")
		f.fs.UintVar(&icmpType, "icmp-type", 8, "ICMP type")
		f.fs.UintVar(&icmpCode, "icmp-code", 0, "ICMP code")
		f.fs.StringVar(&f.output, "o", "text", "output: text or json")
	})
	if err != nil {
		return err
	}
	p, err := explainPacket(in, out, dir, src, dst, proto, sport, dport, icmpType, icmpCode)
	if err != nil {
		return fmt.Errorf("%w: %v", cliconf.ErrUsage, err)
	}
	cli, err := f.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	m := &reference.Model{Node: node}
	if m.Interfaces, err = ifacemon.List(); err != nil {
		fmt.Fprintf(c.errOut, "untrackctl: %v; host endpoints given only by expectedIPs are not bound\n", err)
	}
	for _, k := range model.Kinds {
		items, _, err := c.list(ctx, cli, k)
		if err != nil {
			return err
		}
		for _, r := range items {
			switch v := r.(type) {
			case *model.HostEndpoint:
				m.HostEndpoints = append(m.HostEndpoints, v)
			case *model.GlobalNetworkPolicy:
				m.Policies = append(m.Policies, v)
			case *model.GlobalNetworkSet:
				m.NetworkSets = append(m.NetworkSets, v)
			case *model.Profile:
				m.Profiles = append(m.Profiles, v)
			case *model.FelixConfiguration:
				m.FelixConfigs = append(m.FelixConfigs, v)
			}
		}
	}
	d := m.Evaluate(p)
	if f.output == "json" {
		enc := json.NewEncoder(c.out)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Packet  string   `json:"packet"`
			Verdict string   `json:"verdict"`
			Tracked bool     `json:"tracked"`
			Steps   []string `json:"steps"`
		}{p.String(), d.Verdict.String(), d.Verdict == reference.Allow, d.Steps})
	}
	what := map[reference.Verdict]string{
		reference.Allow:          "allowed, tracked by conntrack",
		reference.AllowUntracked: "allowed, not tracked (untracked policy)",
		reference.Deny:           "dropped",
	}[d.Verdict]
	fmt.Fprintf(c.out, "%s\n%s: %s\n", p, strings.ToUpper(d.Verdict.String()), what)
	for i, s := range d.Steps {
		fmt.Fprintf(c.out, "  %d. %s\n", i+1, s)
	}
	return nil
}

var protoNumbers = map[string]uint8{"tcp": 6, "udp": 17, "sctp": 132, "icmp": 1, "icmpv6": 58, "udplite": 136}

// explainPacket builds the packet the flags describe.
func explainPacket(in, out, dir, src, dst, proto string, sport, dport, icmpType, icmpCode uint) (reference.Packet, error) {
	var p reference.Packet
	switch dir {
	case "":
		switch {
		case in != "" && out != "":
			p.Direction = reference.Forward
		case out != "":
			p.Direction = reference.Egress
		case in != "":
			p.Direction = reference.Ingress
		default:
			return p, errors.New("give --iface (arriving), --out-iface (leaving) or both (forwarded)")
		}
	case "ingress":
		p.Direction = reference.Ingress
	case "egress":
		p.Direction = reference.Egress
	case "forward":
		p.Direction = reference.Forward
	default:
		return p, fmt.Errorf("--direction %q: want ingress, egress or forward", dir)
	}
	p.InIface, p.OutIface = in, out
	var err error
	if p.Src, err = netip.ParseAddr(src); err != nil {
		return p, fmt.Errorf("--src %q: not an IP address", src)
	}
	if p.Dst, err = netip.ParseAddr(dst); err != nil {
		return p, fmt.Errorf("--dst %q: not an IP address", dst)
	}
	if p.Src.Is4() != p.Dst.Is4() {
		return p, errors.New("--src and --dst must be of one IP family")
	}
	n, ok := protoNumbers[strings.ToLower(proto)]
	if !ok {
		v, err := strconv.ParseUint(proto, 10, 8)
		if err != nil || v == 0 {
			return p, fmt.Errorf("--proto %q: want tcp, udp, sctp, icmp, icmpv6 or 1-255", proto)
		}
		n = uint8(v)
	}
	p.Proto = n
	if sport > 65535 || dport > 65535 || icmpType > 255 || icmpCode > 255 {
		return p, errors.New("ports are 0-65535, ICMP type and code 0-255")
	}
	p.SrcPort, p.DstPort = uint16(sport), uint16(dport)
	p.ICMPType, p.ICMPCode = uint8(icmpType), uint8(icmpCode)
	return p, nil
}
