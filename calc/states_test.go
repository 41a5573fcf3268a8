package calc

import (
	"testing"

	"github.com/untrackd/untrackd/model"
)

const testNode = "memcached-node-1"

// state is a complete datastore content: etcd key name → JSON value.
type state struct {
	name string
	kvs  map[model.Key]string
	// want, if set, is the expected dpState summary (selectors named by
	// canonical text).
	want string
}

func hepKey(n string) model.Key { return model.Key{Kind: model.KindHostEndpoint, Name: n} }
func gnpKey(n string) model.Key { return model.Key{Kind: model.KindGlobalNetworkPolicy, Name: n} }
func gnsKey(n string) model.Key { return model.Key{Kind: model.KindGlobalNetworkSet, Name: n} }
func fcKey(n string) model.Key  { return model.Key{Kind: model.KindFelixConfiguration, Name: n} }
func proKey(n string) model.Key { return model.Key{Kind: model.KindProfile, Name: n} }

const (
	seedHEP = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},
		"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["10.128.0.162"]}}`
	clientHEP = `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"client-1-eth0","labels":{"memcached":"client"}},
		"spec":{"interfaceName":"eth0","node":"client-1","expectedIPs":["10.128.0.200","fd00::200"]}}`
	seedGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"memcached-server"},
		"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,
		"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],
		"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}]}}`
	seedGNPPrefixed = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"default.memcached-server"},
		"spec":{"selector":"memcached == 'server'","applyOnForward":true,"doNotTrack":true,
		"ingress":[{"action":"Allow","protocol":"TCP","source":{"selector":"memcached == 'client'"},"destination":{"ports":[12211]}}],
		"egress":[{"action":"Allow","protocol":"TCP","source":{"ports":[12211]},"destination":{"selector":"memcached == 'client'"}}]}}`
	clientGNS = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"clients","labels":{"memcached":"client"}},
		"spec":{"nets":["192.168.0.0/16","10.128.0.200/32","2001:db8::/32"]}}`
	denyGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"deny-bad"},
		"spec":{"order":10,"selector":"has(memcached)","applyOnForward":true,"doNotTrack":true,
		"ingress":[{"action":"Deny","source":{"nets":["203.0.113.0/24"]}}]}}`
	normalGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"allow-ssh"},
		"spec":{"order":100,"selector":"all()","types":["Ingress"],"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":[22]}}]}}`
	fwdGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"fwd"},
		"spec":{"selector":"all()","applyOnForward":true,"egress":[{"action":"Allow"}]}}`
	preDNATGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"pre"},
		"spec":{"order":1,"selector":"all()","preDNAT":true,"applyOnForward":true,"ingress":[{"action":"Deny","protocol":"UDP","destination":{"ports":["1000:2000"]}}]}}`
	otherGNP = `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"not-here"},
		"spec":{"selector":"role == 'db'","applyOnForward":true,"doNotTrack":true,"ingress":[{"action":"Allow","source":{"selector":"role == 'app'"}}]}}`
	felixNode = `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"node.memcached-node-1"},
		"spec":{"failsafeInboundHostPorts":[{"protocol":"TCP","port":22}],"reportingInterval":"0s"}}`
	felixOther = `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"node.other"},
		"spec":{"failsafeInboundHostPorts":[{"protocol":"TCP","port":2222}]}}`
	felixDefault = `{"apiVersion":"projectcalico.org/v3","kind":"FelixConfiguration","metadata":{"name":"default"},
		"spec":{"failsafeInboundHostPorts":[],"failsafeOutboundHostPorts":[{"protocol":"UDP","port":53}],"logSeverityScreen":"Warning"}}`
)

const defaultConfig = "config in=[tcp:22 udp:68 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667] out=[udp:53 udp:67 tcp:179 tcp:2379 tcp:2380 tcp:5473 tcp:6443 tcp:6666 tcp:6667]"

var (
	stEmpty = state{name: "empty", kvs: map[model.Key]string{}, want: defaultConfig}

	stSeed = state{name: "seed", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): seedHEP,
		hepKey("client-1-eth0"):         clientHEP,
		gnpKey("memcached-server"):      seedGNP,
	}, want: defaultConfig + `
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[] untracked=[memcached-server]/[memcached-server] prednat=[] normal=[]/[] forward=[]/[]
ipset set(memcached == "client") = [10.128.0.200/32 fd00::200/128]
policy memcached-server in ACTION_ALLOW proto=6 src=set(memcached == "client") dport=12211-12211 (memcached-server ingress 0)
policy memcached-server out ACTION_ALLOW proto=6 dst=set(memcached == "client") sport=12211-12211 (memcached-server egress 0)
policy memcached-server untracked=true prednat=false fwd=true`}

	// The same policy stored the way Calico v3.29.0-3.29.3 named it.
	stSeedPrefixed = state{name: "seed-prefixed", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"):    seedHEP,
		hepKey("client-1-eth0"):            clientHEP,
		gnpKey("default.memcached-server"): seedGNPPrefixed,
	}, want: stSeed.want}

	stSeedWithSet = state{name: "seed+gns", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): seedHEP,
		hepKey("client-1-eth0"):         clientHEP,
		gnpKey("memcached-server"):      seedGNP,
		gnsKey("clients"):               clientGNS,
	}, want: defaultConfig + `
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[] untracked=[memcached-server]/[memcached-server] prednat=[] normal=[]/[] forward=[]/[]
ipset set(memcached == "client") = [10.128.0.200/32 192.168.0.0/16 2001:db8::/32 fd00::200/128]
policy memcached-server in ACTION_ALLOW proto=6 src=set(memcached == "client") dport=12211-12211 (memcached-server ingress 0)
policy memcached-server out ACTION_ALLOW proto=6 dst=set(memcached == "client") sport=12211-12211 (memcached-server egress 0)
policy memcached-server untracked=true prednat=false fwd=true`}

	stMixed = state{name: "mixed", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"):    seedHEP,
		gnpKey("default.memcached-server"): seedGNPPrefixed,
		gnpKey("deny-bad"):                 denyGNP,
		gnpKey("allow-ssh"):                normalGNP,
		gnpKey("fwd"):                      fwdGNP,
		gnpKey("pre"):                      preDNATGNP,
		gnpKey("not-here"):                 otherGNP,
		fcKey("node.memcached-node-1"):     felixNode,
		fcKey("default"):                   felixDefault,
		fcKey("node.other"):                felixOther,
	}, want: `config in=[tcp:22] out=[udp:53] log=Warning
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[] untracked=[deny-bad memcached-server]/[memcached-server] prednat=[pre] normal=[allow-ssh]/[fwd] forward=[]/[fwd]
ipset set(memcached == "client") = []
policy allow-ssh in ACTION_ALLOW proto=6 dport=22-22 (allow-ssh ingress 0)
policy allow-ssh untracked=false prednat=false fwd=false
policy deny-bad in ACTION_DENY srcnet=[203.0.113.0/24] (deny-bad ingress 0)
policy deny-bad untracked=true prednat=false fwd=true
policy fwd out ACTION_ALLOW (fwd egress 0)
policy fwd untracked=false prednat=false fwd=true
policy memcached-server in ACTION_ALLOW proto=6 src=set(memcached == "client") dport=12211-12211 (memcached-server ingress 0)
policy memcached-server out ACTION_ALLOW proto=6 dst=set(memcached == "client") sport=12211-12211 (memcached-server egress 0)
policy memcached-server untracked=true prednat=false fwd=true
policy pre in ACTION_DENY proto=17 dport=1000-2000 (pre ingress 0)
policy pre untracked=false prednat=true fwd=true`}

	// The local endpoint's labels change so that no policy applies.
	stRelabelled = state{name: "relabelled", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"role":"db"}},
			"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["10.128.0.162"]}}`,
		hepKey("client-1-eth0"):    clientHEP,
		gnpKey("memcached-server"): seedGNP,
		gnpKey("not-here"):         otherGNP,
		hepKey("app-1"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"app-1","labels":{"role":"app"}},
			"spec":{"node":"app-node","expectedIPs":["10.0.0.9"]}}`,
	}, want: defaultConfig + `
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[] untracked=[not-here]/[] prednat=[] normal=[]/[] forward=[]/[]
ipset set(role == "app") = [10.0.0.9/32]
policy not-here in ACTION_ALLOW src=set(role == "app") (not-here ingress 0)
policy not-here untracked=true prednat=false fwd=true`}

	// The local endpoint moves to another node.
	stMoved = state{name: "moved", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},
			"spec":{"interfaceName":"eth0","node":"memcached-node-2","expectedIPs":["10.128.0.162"]}}`,
		gnpKey("memcached-server"): seedGNP,
	}, want: defaultConfig}

	// Profiles: labels they apply are inherited (and selected by policy and
	// rule selectors), their rules are sent, missing ones are left out, and
	// the built-in default-allow profile exists without being stored.
	stProfiles = state{name: "profiles", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},
			"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["10.128.0.162"],"profiles":["mgmt","missing","projectcalico-default-allow"]}}`,
		hepKey("bastion"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"bastion"},
			"spec":{"node":"bastion-node","expectedIPs":["10.0.0.22"],"profiles":["mgmt"]}}`,
		proKey("mgmt"): `{"apiVersion":"projectcalico.org/v3","kind":"Profile","metadata":{"name":"mgmt"},
			"spec":{"labelsToApply":{"zone":"mgmt","memcached":"overridden"},"ingress":[{"action":"Allow","source":{"selector":"zone == 'mgmt'"}}]}}`,
		gnpKey("mgmt-only"): `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"mgmt-only"},
			"spec":{"selector":"zone == 'mgmt' && memcached == 'server'","ingress":[{"action":"Deny"}]}}`,
	}, want: defaultConfig + `
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[] untracked=[]/[] prednat=[] normal=[mgmt-only]/[] forward=[]/[] profiles=[mgmt projectcalico-default-allow]
ipset set(zone == "mgmt") = [10.0.0.22/32 10.128.0.162/32]
policy mgmt-only in ACTION_DENY (mgmt-only ingress 0)
policy mgmt-only untracked=false prednat=false fwd=false
profile mgmt in ACTION_ALLOW src=set(zone == "mgmt") (profile mgmt ingress 0)
profile projectcalico-default-allow in ACTION_ALLOW (profile projectcalico-default-allow ingress 0)
profile projectcalico-default-allow out ACTION_ALLOW (profile projectcalico-default-allow egress 0)`}

	// Named ports resolve to (address, protocol, port) sets of the
	// endpoints that define them.
	stNamedPorts = state{name: "named-ports", kvs: map[model.Key]string{
		hepKey("memcached-node-1-eth0"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"memcached-node-1-eth0","labels":{"memcached":"server"}},
			"spec":{"interfaceName":"eth0","node":"memcached-node-1","expectedIPs":["10.128.0.162","fd00::162"],"ports":[{"name":"memcache","protocol":"TCP","port":11211},{"name":"dns","protocol":"UDP","port":53}]}}`,
		hepKey("cache-2"): `{"apiVersion":"projectcalico.org/v3","kind":"HostEndpoint","metadata":{"name":"cache-2","labels":{"role":"cache"}},
			"spec":{"node":"cache-node-2","expectedIPs":["10.0.0.2"],"ports":[{"name":"memcache","protocol":"TCP","port":11212},{"name":"memcache","protocol":"UDP","port":11212}]}}`,
		gnpKey("named"): `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkPolicy","metadata":{"name":"named"},
			"spec":{"selector":"all()","types":["Ingress","Egress"],
			"ingress":[{"action":"Allow","protocol":"TCP","destination":{"ports":["memcache",80]}}],
			"egress":[{"action":"Allow","protocol":"TCP","destination":{"selector":"role == 'cache'","ports":["memcache"]}},
			          {"action":"Deny","protocol":"UDP","destination":{"notPorts":["dns"]}}]}}`,
	}, want: defaultConfig + `
hep memcached-node-1-eth0 iface="eth0" v4=[10.128.0.162] v6=[fd00::162] untracked=[]/[] prednat=[] normal=[named]/[named] forward=[]/[]
ipset set(role == "cache") = [10.0.0.2/32]
namedports set(all(), dns/17) = [10.128.0.162,udp:53 fd00::162,udp:53]
namedports set(all(), memcache/6) = [10.0.0.2,tcp:11212 10.128.0.162,tcp:11211 fd00::162,tcp:11211]
namedports set(role == "cache", memcache/6) = [10.0.0.2,tcp:11212]
policy named in ACTION_ALLOW proto=6 dnp=set(all(), memcache/6) dport=80-80 (named ingress 0)
policy named out ACTION_ALLOW proto=6 dst=set(role == "cache") dnp=set(role == "cache", memcache/6) (named egress 0)
policy named out ACTION_DENY proto=17 !dnp=set(all(), dns/17) (named egress 1)
policy named untracked=false prednat=false fwd=false`}
)

var allStates = []state{stEmpty, stSeed, stSeedPrefixed, stSeedWithSet, stMixed, stRelabelled, stMoved, stProfiles, stNamedPorts}

func decode(t testing.TB, k model.Key, js string) model.Resource {
	t.Helper()
	r, err := model.DecodeKey(k, []byte(js))
	if err != nil {
		t.Fatalf("test resource %s: %v", k, err)
	}
	return r
}
