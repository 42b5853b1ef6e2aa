package config

import (
	"strings"
	"testing"

	"github.com/pkg/errors"
)

func input() Input {
	return Input{
		DataDir: DefaultDataDir, ClusterCIDR: DefaultClusterCIDR, ServiceCIDR: DefaultServiceCIDR,
		ClusterDNS: DefaultClusterDNS, ClusterDomain: DefaultClusterDomain, NodeName: "node1", NodeIP: "10.0.2.15",
		HTTPSPort: DefaultHTTPSPort, Kubeconfig: DefaultKubeconfig, BinDir: "/opt/dcp/bin",
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(input())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.APIServiceIP().String(); got != "10.43.0.1" {
		t.Errorf("APIServiceIP() = %s, want 10.43.0.1", got)
	}
	if got := c.TokenFile(); got != "/var/lib/bhojpur/dcp/server/token" {
		t.Errorf("TokenFile() = %s", got)
	}
}

func TestNodePathsOfServerAndAgent(t *testing.T) {
	server, err := New(input())
	if err != nil {
		t.Fatal(err)
	}
	in := input()
	in.ServerURL = "https://10.0.0.1:6443"
	agent, err := New(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ got, want string }{
		{server.NodeTLS("client-ca.crt"), "/var/lib/bhojpur/dcp/server/tls/client-ca.crt"},
		{server.NodeCred("kubelet"), "/var/lib/bhojpur/dcp/server/cred/kubelet.kubeconfig"},
		{agent.NodeTLS("client-ca.crt"), "/var/lib/bhojpur/dcp/agent/pki/client-ca.crt"},
		{agent.NodeCred("kubelet"), "/var/lib/bhojpur/dcp/agent/cred/kubelet.kubeconfig"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
	if server.IsAgent() || !agent.IsAgent() {
		t.Errorf("IsAgent: server %v, agent %v", server.IsAgent(), agent.IsAgent())
	}
	if err := agent.SetCluster("10.62.0.0/16", "10.63.0.0/16", "10.42.0.10", "edge.local"); err == nil || !strings.Contains(err.Error(), "--cluster-dns") {
		t.Errorf("SetCluster with a DNS address outside the service range: %v", err)
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Input)
		want string
	}{
		{"cluster cidr", func(i *Input) { i.ClusterCIDR = "10.42.0.0" }, `--cluster-cidr "10.42.0.0": not a CIDR`},
		{"cluster cidr host bits", func(i *Input) { i.ClusterCIDR = "10.42.0.1/16" }, "not a CIDR network address"},
		{"service cidr", func(i *Input) { i.ServiceCIDR = "banana" }, `--service-cidr "banana"`},
		{"overlap", func(i *Input) { i.ServiceCIDR = "10.42.128.0/17" }, "overlap"},
		{"server url http", func(i *Input) { i.ServerURL = "http://10.0.0.1:6443" }, `DCP_URL (--server) "http://10.0.0.1:6443": want https://host:port`},
		{"server url path", func(i *Input) { i.ServerURL = "https://10.0.0.1:6443/api" }, "want https://host:port"},
		{"dns outside", func(i *Input) { i.ClusterDNS = "10.42.0.10" }, "inside --service-cidr"},
		{"node name", func(i *Input) { i.NodeName = "Node_1" }, "--node-name"},
		{"label", func(i *Input) { i.Labels = []string{"bad key!=v"} }, `--node-label "bad key!=v": key`},
		{"label no value", func(i *Input) { i.Labels = []string{"k"} }, "want key=value"},
		{"taint effect", func(i *Input) { i.Taints = []string{"k=v:Sometimes"} }, "want key=value:Effect"},
		{"token", func(i *Input) { i.Token = "K10abc::server:x" }, "DCP_TOKEN (--token): not a node token"},
		{"secret with space", func(i *Input) { i.ClusterSecret = "a b" }, "DCP_CLUSTER_SECRET"},
		{"relative data dir", func(i *Input) { i.DataDir = "data" }, "--data-dir"},
		{"relative bin dir", func(i *Input) { i.BinDir = "bin" }, `--bin-dir "bin": not an absolute path`},
		{"relative runc", func(i *Input) { i.Runc = "runc" }, `--runc "runc"`},
		{"flannel iface path", func(i *Input) { i.FlannelIface = "../eth0" }, `--flannel-iface "../eth0": not an interface name`},
		{"flannel iface long", func(i *Input) { i.FlannelIface = "enp0s20f0u1u2u3" + "x" }, "--flannel-iface"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := input()
			tc.edit(&in)
			_, err := New(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadInput) {
				t.Errorf("New() = %v, want a bad-input error containing %q", err, tc.want)
			}
		})
	}
}

func TestNewLabelsAndTaints(t *testing.T) {
	in := input()
	in.Labels = []string{"bhojpur.net/mode=live", "region=us-west-1"}
	in.Taints = []string{"key1=value1:NoSchedule", "dedicated:NoExecute"}
	if _, err := New(in); err != nil {
		t.Errorf("New(valid labels and taints) = %v", err)
	}
}

func TestDefaultRouteInterface(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\n" +
		"eth1\t0002000A\t00000000\t0001\n" +
		"eth0\t00000000\t0202000A\t0003\n"
	if got := defaultRouteInterface(strings.NewReader(table)); got != "eth0" {
		t.Errorf("defaultRouteInterface() = %q, want eth0", got)
	}
	if got := defaultRouteInterface(strings.NewReader("Iface\tDestination\n")); got != "" {
		t.Errorf("no default route: %q, want empty", got)
	}
}
