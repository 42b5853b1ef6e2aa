// Package agent runs the node part of DCP: containerd as a supervised child
// process, the air-gapped images imported into it, the kubelet and
// kube-proxy in-process, and the pod network (package flannel between the
// nodes, and a CNI bridge on the pod range that kube-controller-manager
// gives the node). The files each part
// reads are rendered by the pure functions of this file, so a test can diff
// them.
package agent

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/bhojpur/os/dcp/internal/config"
)

// Image references of the images DCP ships (built by dcp/images, imported
// before the kubelet starts; nothing is pulled).
const (
	PauseImage   = "bhojpur.net/dcp/pause:3.10"
	CoreDNSImage = "bhojpur.net/dcp/coredns:1.15.0"
	TestImage    = "bhojpur.net/dcp/busybox:1.35"
)

// Components, as the --<name>-arg flags say them.
const (
	Kubelet   = "kubelet"
	KubeProxy = "kube-proxy"
	Flannel   = "flannel" // only a kubeconfig: flannel runs in dcp, without flags
)

// KubeletConfig is the kubelet's KubeletConfiguration. The kubelet's API
// needs a client certificate from the cluster's client CA or a token that
// the apiserver vouches for (webhook); nothing anonymous.
func KubeletConfig(c *config.Config) []byte {
	taints := make([]map[string]string, 0, len(c.Taints))
	for _, t := range c.Taints {
		kv, effect, _ := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		taints = append(taints, map[string]string{"key": k, "value": v, "effect": effect})
	}
	cfg := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true, "cacheTTL": "2m"},
			"x509":      map[string]any{"clientCAFile": c.NodeTLS("client-ca.crt")},
		},
		"authorization":            map[string]any{"mode": "Webhook"},
		"address":                  c.NodeIP.String(),
		"port":                     10250,
		"readOnlyPort":             0,
		"healthzBindAddress":       "127.0.0.1",
		"healthzPort":              10248,
		"tlsCertFile":              c.NodeTLS("serving-kubelet.crt"),
		"tlsPrivateKeyFile":        c.NodeTLS("serving-kubelet.key"),
		"clusterDNS":               []string{c.ClusterDNS.String()},
		"clusterDomain":            c.ClusterDomain,
		"cgroupDriver":             "cgroupfs",
		"containerRuntimeEndpoint": "unix://" + c.ContainerdSocket(),
		"failSwapOn":               false,
		"serializeImagePulls":      false,
		"resolvConf":               c.ResolvConf,
		"registerWithTaints":       taints,
		// A live node's file systems are RAM: keep the defaults' margins
		// but not their 10-15% of a small disk.
		"evictionHard": map[string]string{
			"memory.available":  "50Mi",
			"nodefs.available":  "5%",
			"imagefs.available": "5%",
		},
		"imageGCHighThresholdPercent": 90,
		"imageGCLowThresholdPercent":  80,
		"maxPods":                     110,
	}
	return mustJSON(cfg)
}

// KubeletArgs is the kubelet's argv: what its configuration file cannot say.
func KubeletArgs(c *config.Config) []string {
	labels := append([]string(nil), c.Labels...)
	sort.Strings(labels)
	flags := map[string]string{
		"config":            c.AgentFile("kubelet.yaml"),
		"kubeconfig":        c.NodeCred("kubelet"),
		"hostname-override": c.NodeName,
		"node-ip":           c.NodeIP.String(),
		"root-dir":          c.AgentFile("kubelet"),
		"cert-dir":          c.AgentFile("kubelet/pki"),
		"node-labels":       strings.Join(labels, ","),
	}
	return config.Flags(flags, c.ExtraArgs[Kubelet])
}

// KubeProxyArgs is kube-proxy's argv: iptables mode, health and metrics on
// loopback only, conntrack sysctls left alone.
func KubeProxyArgs(c *config.Config) []string {
	return config.Flags(map[string]string{
		"kubeconfig":             c.NodeCred("kube-proxy"),
		"hostname-override":      c.NodeName,
		"cluster-cidr":           c.ClusterCIDR.String(),
		"proxy-mode":             "iptables",
		"healthz-bind-address":   "127.0.0.1:10256",
		"metrics-bind-address":   "127.0.0.1:10249",
		"conntrack-max-per-core": "0",
	}, c.ExtraArgs[KubeProxy])
}

// ContainerdConfig is containerd's config.toml (version 3, containerd 2.x):
// its state under the agent's directories, the CRI plugin with runc (cgroupfs,
// as the kubelet), the pause image pinned, CNI from DCP's own plugins.
func ContainerdConfig(c *config.Config) []byte {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by dcp at every start; changes here are lost.\nversion = 3\n")
	fmt.Fprintf(&b, "root = %s\nstate = %s\n", q(c.AgentFile("containerd")), q(c.ContainerdStateDir()))
	fmt.Fprintf(&b, "disabled_plugins = [%s]\n", strings.Join(quoteAll(disabledPlugins), ", "))
	fmt.Fprintf(&b, "\n[grpc]\n  address = %s\n", q(c.ContainerdSocket()))
	fmt.Fprintf(&b, "\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = %s\n", q(c.Snapshotter))
	fmt.Fprintf(&b, "  [plugins.'io.containerd.cri.v1.images'.pinned_images]\n    sandbox = %s\n", q(PauseImage))
	fmt.Fprintf(&b, "\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = \"runc\"\n")
	fmt.Fprintf(&b, "  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]\n    runtime_type = \"io.containerd.runc.v2\"\n")
	fmt.Fprintf(&b, "    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n      BinaryName = %s\n      SystemdCgroup = false\n", q(c.Runc))
	fmt.Fprintf(&b, "\n[plugins.'io.containerd.cri.v1.runtime'.cni]\n  bin_dirs = [%s]\n  conf_dir = %s\n  max_conf_num = 1\n", q(c.CNIBinDir()), q(c.CNIConfDir()))
	return []byte(b.String())
}

// disabledPlugins are containerd plugins a node here never uses (other
// snapshotters, tracing, remote content): less memory and start time.
var disabledPlugins = []string{
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.snapshotter.v1.erofs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		b, _ := json.Marshal(s)
		out[i] = string(b)
	}
	return out
}

// CNIConfig is the pod network's conflist: a bridge with the node's pod
// range (host-local addresses) and flannel's MTU, hairpin so that a pod
// reaches itself through its Service, and portmap for hostPort. No
// masquerade here: flannel's rules masquerade what leaves the cluster's pod
// range, so pods on other nodes see a pod's own address.
func CNIConfig(c *config.Config, podCIDR *net.IPNet, mtu int) []byte {
	return mustJSON(map[string]any{
		"cniVersion": "1.0.0",
		"name":       "dcp",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      "cni0",
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"mtu":         mtu,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": podCIDR.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": c.AgentFile("cni/networks"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	})
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(err) // only maps of plain values
	}
	return append(b, '\n')
}
