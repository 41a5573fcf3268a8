package main

import (
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	t.Setenv("UNTRACKD_NODE_NAME", "from-env")
	t.Setenv("UNTRACKD_ETCD_ENDPOINTS", "http://a:2379, http://b:2379")
	t.Setenv("UNTRACKD_DATAPLANE_REFRESH_INTERVAL", "5s")
	c, err := parseConfig("run", []string{"--node-name", "from-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeName != "from-flag" {
		t.Errorf("node name %q: the flag must win over the environment", c.NodeName)
	}
	if strings.Join(c.EtcdEndpoints, ",") != "http://a:2379,http://b:2379" {
		t.Errorf("endpoints %v", c.EtcdEndpoints)
	}
	if c.RefreshInterval != 5*time.Second {
		t.Errorf("refresh interval %v", c.RefreshInterval)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--etcd-cert", "c.pem"}, nil, "--etcd-cert and --etcd-key must be given together"},
		{[]string{"--mark-allow", "3"}, nil, "must be a single bit"},
		{[]string{"--mark-pass", "0x10000000"}, nil, "other than --mark-allow"},
		{[]string{"--log-format", "xml"}, nil, "want console or json"},
		{nil, map[string]string{"UNTRACKD_DATAPLANE_REFRESH_INTERVAL": "soon"}, "UNTRACKD_DATAPLANE_REFRESH_INTERVAL=\"soon\""},
		{[]string{"extra"}, nil, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			_, err := parseConfig("run", c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v %v: error %v, want %q", c.args, c.env, err, c.want)
			}
		})
	}
}
