package agent

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bhojpur/os/dcp/internal/config"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.New(config.Input{
		DataDir: "/var/lib/bhojpur/dcp", ClusterCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16",
		ClusterDNS: "10.43.0.10", ClusterDomain: "cluster.local", NodeName: "node1", NodeIP: "10.0.2.15",
		HTTPSPort: 6443, Kubeconfig: "/etc/bhojpur/dcp/dcp.yaml",
		Labels: []string{"zone=b", "bhojpur.net/mode=live"}, Taints: []string{"dedicated=db:NoSchedule", "edge:NoExecute"},
		BinDir: "/bos/system/dcp/v1/bin", ImageDirs: []string{"/bos/system/dcp/v1/images"},
		ExtraArgs: map[string][]string{Kubelet: {"--v=2"}, KubeProxy: {"v=1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubeletArgs(t *testing.T) {
	want := []string{
		"--cert-dir=/var/lib/bhojpur/dcp/agent/kubelet/pki",
		"--config=/var/lib/bhojpur/dcp/agent/kubelet.yaml",
		"--hostname-override=node1",
		"--kubeconfig=/var/lib/bhojpur/dcp/server/cred/kubelet.kubeconfig",
		"--node-ip=10.0.2.15",
		"--node-labels=bhojpur.net/mode=live,zone=b",
		"--root-dir=/var/lib/bhojpur/dcp/agent/kubelet",
		"--v=2", // the user's, last: it wins
	}
	if diff := cmp.Diff(want, KubeletArgs(testConfig(t))); diff != "" {
		t.Errorf("KubeletArgs (-want +got):\n%s", diff)
	}
}

func TestKubeProxyArgs(t *testing.T) {
	got := KubeProxyArgs(testConfig(t))
	for _, w := range []string{"--proxy-mode=iptables", "--cluster-cidr=10.42.0.0/16", "--healthz-bind-address=127.0.0.1:10256",
		"--metrics-bind-address=127.0.0.1:10249", "--kubeconfig=/var/lib/bhojpur/dcp/server/cred/kube-proxy.kubeconfig"} {
		if !contains(got, w) {
			t.Errorf("KubeProxyArgs() = %q, want %q in it", got, w)
		}
	}
	if got[len(got)-1] != "--v=1" {
		t.Errorf("KubeProxyArgs() ends with %q, want the user's --v=1", got[len(got)-1])
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestKubeletConfig(t *testing.T) {
	var cfg struct {
		Authentication struct {
			Anonymous struct{ Enabled bool }
			Webhook   struct{ Enabled bool }
			X509      struct{ ClientCAFile string }
		}
		Authorization            struct{ Mode string }
		ReadOnlyPort             int
		Address                  string
		ClusterDNS               []string
		ContainerRuntimeEndpoint string
		RegisterWithTaints       []map[string]string
	}
	if err := json.Unmarshal(KubeletConfig(testConfig(t)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Authentication.Anonymous.Enabled || !cfg.Authentication.Webhook.Enabled || cfg.Authorization.Mode != "Webhook" {
		t.Errorf("kubelet API: anonymous %v, webhook %v, authorization %q; want no anonymous access, webhook authn and authz",
			cfg.Authentication.Anonymous.Enabled, cfg.Authentication.Webhook.Enabled, cfg.Authorization.Mode)
	}
	if cfg.Authentication.X509.ClientCAFile != "/var/lib/bhojpur/dcp/server/tls/client-ca.crt" || cfg.ReadOnlyPort != 0 || cfg.Address != "10.0.2.15" {
		t.Errorf("client CA %q, read-only port %d, address %q", cfg.Authentication.X509.ClientCAFile, cfg.ReadOnlyPort, cfg.Address)
	}
	if diff := cmp.Diff([]string{"10.43.0.10"}, cfg.ClusterDNS); diff != "" {
		t.Errorf("clusterDNS (-want +got):\n%s", diff)
	}
	if cfg.ContainerRuntimeEndpoint != "unix:///run/bhojpur/dcp/containerd/containerd.sock" {
		t.Errorf("containerRuntimeEndpoint %q", cfg.ContainerRuntimeEndpoint)
	}
	wantTaints := []map[string]string{{"key": "dedicated", "value": "db", "effect": "NoSchedule"}, {"key": "edge", "value": "", "effect": "NoExecute"}}
	if diff := cmp.Diff(wantTaints, cfg.RegisterWithTaints); diff != "" {
		t.Errorf("registerWithTaints (-want +got):\n%s", diff)
	}
}

func TestContainerdConfig(t *testing.T) {
	got := string(ContainerdConfig(testConfig(t)))
	for _, w := range []string{
		"version = 3\n",
		`root = "/var/lib/bhojpur/dcp/agent/containerd"`,
		`state = "/run/bhojpur/dcp/containerd"`,
		`address = "/run/bhojpur/dcp/containerd/containerd.sock"`,
		`sandbox = "bhojpur.net/dcp/pause:3.10"`,
		`BinaryName = "/usr/sbin/runc"`,
		"SystemdCgroup = false",
		`bin_dirs = ["/bos/system/dcp/v1/bin/cni"]`,
		`conf_dir = "/var/lib/bhojpur/dcp/agent/etc/cni/net.d"`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("containerd config lacks %q:\n%s", w, got)
		}
	}
}

func TestCNIConfig(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.42.0.0/24")
	var cfg struct {
		CNIVersion string
		Plugins    []struct {
			Type        string
			IsGateway   bool
			IPMasq      bool
			HairpinMode bool
			MTU         int
			IPAM        struct {
				Type   string
				Ranges [][]struct{ Subnet string }
			}
		}
	}
	if err := json.Unmarshal(CNIConfig(testConfig(t), cidr, 1450), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 2 || cfg.Plugins[0].Type != "bridge" || cfg.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v, want bridge then portmap", cfg.Plugins)
	}
	b := cfg.Plugins[0]
	if !b.IsGateway || b.IPMasq || !b.HairpinMode || b.MTU != 1450 || b.IPAM.Type != "host-local" || b.IPAM.Ranges[0][0].Subnet != "10.42.0.0/24" {
		t.Errorf("bridge %+v: want a hairpin gateway with MTU 1450, host-local addresses of 10.42.0.0/24 and no masquerade (flannel's)", b)
	}
}

func TestArchives(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(d1, "b.tar"), filepath.Join(d1, "a.tar"), filepath.Join(d1, "notes.txt"), filepath.Join(d2, "c.tar")} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(d1, "dir.tar"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := Archives([]string{d1, filepath.Join(d1, "missing"), d2})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(d1, "a.tar"), filepath.Join(d1, "b.tar"), filepath.Join(d2, "c.tar")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Archives (-want +got):\n%s", diff)
	}
}

func TestImportArgs(t *testing.T) {
	want := []string{"--address", "/run/bhojpur/dcp/containerd/containerd.sock", "--namespace", "k8s.io",
		"images", "import", "--local", "--discard-unpacked-layers", "--snapshotter", "overlayfs", "/x/pause.tar"}
	if diff := cmp.Diff(want, ImportArgs(testConfig(t), "/x/pause.tar")); diff != "" {
		t.Errorf("ImportArgs (-want +got):\n%s", diff)
	}
}

func TestOSLabelPatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current map[string]string
		labels  []string
		want    string
	}{
		{"as registered", map[string]string{"bhojpur.net/mode": "disk", "bhojpur.net/version": "v1", "zone": "b"},
			[]string{"bhojpur.net/mode=disk", "bhojpur.net/version=v1", "zone=b"}, ""},
		{"upgraded, after a fallback", map[string]string{"bhojpur.net/mode": "disk", "bhojpur.net/version": "v1", "bhojpur.net/fallback": "v2"},
			[]string{"bhojpur.net/mode=disk", "bhojpur.net/version=v3"}, `{"metadata":{"labels":{"bhojpur.net/fallback":null,"bhojpur.net/version":"v3"}}}`},
		{"a trial that fell back", map[string]string{"bhojpur.net/mode": "disk", "bhojpur.net/version": "v1"},
			[]string{"bhojpur.net/mode=disk", "bhojpur.net/version=v1", "bhojpur.net/fallback=v2"}, `{"metadata":{"labels":{"bhojpur.net/fallback":"v2"}}}`},
		{"the config's labels are the cluster's after registration", map[string]string{"bhojpur.net/mode": "disk", "bhojpur.net/version": "v1", "zone": "a", "bhojpur.net/upgrade": "latest"},
			[]string{"bhojpur.net/mode=disk", "bhojpur.net/version=v1", "zone=b"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(osLabelPatch(tc.current, tc.labels)); got != tc.want {
				t.Errorf("osLabelPatch = %s, want %s", got, tc.want)
			}
		})
	}
}
