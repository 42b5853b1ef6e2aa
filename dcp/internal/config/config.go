// Package config is the one configuration that every DCP component is built
// from: what the command line and the environment said, checked, with the
// paths under the data directory derived from it.
package config

import (
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pkg/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bhojpur/os/dcp/internal/join"
	"github.com/bhojpur/os/dcp/internal/token"
)

// Defaults, as k3s users expect them.
const (
	DefaultDataDir       = "/var/lib/bhojpur/dcp"
	DefaultClusterCIDR   = "10.42.0.0/16"
	DefaultServiceCIDR   = "10.43.0.0/16"
	DefaultClusterDNS    = "10.43.0.10"
	DefaultClusterDomain = "cluster.local"
	DefaultKubeconfig    = "/etc/bhojpur/dcp/dcp.yaml"
	DefaultHTTPSPort     = 6443
	DefaultRunDir        = "/run/bhojpur/dcp"
	DefaultRunc          = "/usr/sbin/runc"
)

// ErrBadInput marks an error in what the user gave (flags, environment).
var ErrBadInput = errors.New("invalid input")

// ifaceName is the form of a Linux network interface's name (IFNAMSIZ).
var ifaceName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}$`)

// Config is the shared configuration of a server or agent.
type Config struct {
	DataDir       string
	ClusterCIDR   *net.IPNet
	ServiceCIDR   *net.IPNet
	ClusterDNS    net.IP
	ClusterDomain string
	NodeName      string
	NodeIP        net.IP // the address others reach this node at (--node-ip, else detected)
	FlannelIface  string // the pod network's interface to other nodes ("": NodeIP's)
	BindAddress   net.IP // where the apiserver listens
	HTTPSPort     int
	Labels        []string // key=value
	Taints        []string // key=value:Effect
	DisableAgent  bool
	ClusterInit   bool
	// ServerURL is the server an agent joins (https://host:port); empty on
	// a server. An agent's cluster networks (ClusterCIDR, ServiceCIDR,
	// ClusterDNS, ClusterDomain) are its server's: SetCluster.
	ServerURL  string
	Token      token.Token // empty when none was given
	Kubeconfig string      // where the admin kubeconfig is written
	// KubeconfigUser also gets ~/.kube/config with the admin credentials.
	KubeconfigUser string
	// Upstream flags per component ("kube-apiserver": ["--x=y"]), appended
	// after ours so that they win.
	ExtraArgs map[string][]string
	// Ports of the embedded etcd (loopback only).
	EtcdClientPort, EtcdPeerPort int

	// The agent's programs and files.
	BinDir      string   // containerd, containerd-shim-runc-v2, ctr; cni/ holds the CNI plugins
	ImageDirs   []string // OCI archives (*.tar) imported into containerd before the kubelet starts
	RunDir      string   // sockets and state that a reboot clears
	Runc        string   // the OCI runtime containerd starts containers with
	Snapshotter string   // containerd's snapshotter (overlayfs)
	ResolvConf  string   // the resolv.conf pods with dnsPolicy Default get
}

// Input is the raw form of Config, as flags and environment give it.
type Input struct {
	DataDir, ClusterCIDR, ServiceCIDR, ClusterDNS, ClusterDomain string
	NodeName, NodeIP, FlannelIface, BindAddress                  string
	HTTPSPort                                                    int
	Labels, Taints                                               []string
	DisableAgent, ClusterInit                                    bool
	ServerURL, Token, ClusterSecret                              string
	Kubeconfig, KubeconfigUser                                   string
	ExtraArgs                                                    map[string][]string
	BinDir, RunDir, Runc, Snapshotter, ResolvConf                string
	ImageDirs                                                    []string
}

// New checks in and derives the configuration. Every problem names the
// flag (or variable) and the value's required form.
func New(in Input) (*Config, error) {
	c := &Config{
		DataDir:        in.DataDir,
		ClusterDomain:  in.ClusterDomain,
		NodeName:       in.NodeName,
		FlannelIface:   in.FlannelIface,
		HTTPSPort:      in.HTTPSPort,
		DisableAgent:   in.DisableAgent,
		ClusterInit:    in.ClusterInit,
		ServerURL:      in.ServerURL,
		Kubeconfig:     in.Kubeconfig,
		KubeconfigUser: in.KubeconfigUser,
		ExtraArgs:      in.ExtraArgs,
		EtcdClientPort: 2379,
		EtcdPeerPort:   2380,
		BinDir:         in.BinDir,
		ImageDirs:      in.ImageDirs,
		RunDir:         orDefault(in.RunDir, DefaultRunDir),
		Runc:           orDefault(in.Runc, DefaultRunc),
		Snapshotter:    orDefault(in.Snapshotter, "overlayfs"),
		ResolvConf:     orDefault(in.ResolvConf, "/etc/resolv.conf"),
	}
	var err error
	if !filepath.IsAbs(c.DataDir) {
		return nil, bad("--data-dir %q: not an absolute path", c.DataDir)
	}
	if c.ServerURL != "" {
		if err := checkServerURL(c.ServerURL); err != nil {
			return nil, err
		}
	}
	if err := c.SetCluster(in.ClusterCIDR, in.ServiceCIDR, in.ClusterDNS, in.ClusterDomain); err != nil {
		return nil, err
	}
	if errs := validation.IsDNS1123Subdomain(c.NodeName); len(errs) > 0 {
		return nil, bad("--node-name %q: %s", c.NodeName, errs[0])
	}
	if in.NodeIP != "" {
		if c.NodeIP = net.ParseIP(in.NodeIP); c.NodeIP == nil {
			return nil, bad("--node-ip %q: not an IP address", in.NodeIP)
		}
	}
	if c.NodeIP == nil {
		if c.NodeIP, err = DetectNodeIP(); err != nil {
			return nil, err
		}
	}
	if c.FlannelIface != "" && !ifaceName.MatchString(c.FlannelIface) {
		return nil, bad("--flannel-iface %q: not an interface name (at most 15 of letters, digits and .-_@:)", c.FlannelIface)
	}
	c.BindAddress = net.IPv4zero
	if in.BindAddress != "" {
		if c.BindAddress = net.ParseIP(in.BindAddress); c.BindAddress == nil {
			return nil, bad("--bind-address %q: not an IP address", in.BindAddress)
		}
	}
	if c.HTTPSPort < 1 || c.HTTPSPort > 65535 {
		return nil, bad("--https-listen-port %d: want 1 to 65535", c.HTTPSPort)
	}
	for _, l := range in.Labels {
		if err := checkLabel(l); err != nil {
			return nil, err
		}
	}
	c.Labels = in.Labels
	for _, t := range in.Taints {
		if err := checkTaint(t); err != nil {
			return nil, err
		}
	}
	c.Taints = in.Taints
	switch {
	case in.Token != "":
		if c.Token, err = token.ParseNode(in.Token); err != nil {
			return nil, bad("DCP_TOKEN (--token): %v", err)
		}
	case in.ClusterSecret != "":
		if c.Token, err = token.Parse(in.ClusterSecret); err != nil {
			return nil, bad("DCP_CLUSTER_SECRET: %v", err)
		}
		if c.Token.IsNodeToken() {
			c.Token = token.Token{Secret: in.ClusterSecret}
		}
	}
	if !filepath.IsAbs(c.Kubeconfig) {
		return nil, bad("--write-kubeconfig %q: not an absolute path", c.Kubeconfig)
	}
	if !c.DisableAgent {
		for flag, p := range map[string]string{"--bin-dir": c.BinDir, "--run-dir": c.RunDir, "--runc": c.Runc, "--resolv-conf": c.ResolvConf} {
			if !filepath.IsAbs(p) {
				return nil, bad("%s %q: not an absolute path", flag, p)
			}
		}
	}
	return c, nil
}

// SetCluster checks and sets c's cluster networks, as a server's flags or
// an agent's server say them.
func (c *Config) SetCluster(clusterNet, serviceNet, clusterDNS, clusterDomain string) error {
	clusterCIDR, err := cidr("--cluster-cidr", clusterNet)
	if err != nil {
		return err
	}
	serviceCIDR, err := cidr("--service-cidr", serviceNet)
	if err != nil {
		return err
	}
	if clusterCIDR.Contains(serviceCIDR.IP) || serviceCIDR.Contains(clusterCIDR.IP) {
		return bad("--cluster-cidr %s and --service-cidr %s overlap: give ranges that do not", clusterCIDR, serviceCIDR)
	}
	dns := net.ParseIP(clusterDNS)
	if dns == nil || !serviceCIDR.Contains(dns) {
		return bad("--cluster-dns %q: want an IP address inside --service-cidr %s", clusterDNS, serviceCIDR)
	}
	if errs := validation.IsDNS1123Subdomain(clusterDomain); len(errs) > 0 {
		return bad("--cluster-domain %q: %s", clusterDomain, errs[0])
	}
	c.ClusterCIDR, c.ServiceCIDR, c.ClusterDNS, c.ClusterDomain = clusterCIDR, serviceCIDR, dns, clusterDomain
	return nil
}

// checkServerURL checks the server an agent joins, as join does.
func checkServerURL(s string) error {
	if _, err := join.BaseURL(s); err != nil {
		return bad("DCP_URL (--server) %q: want https://host:port of a DCP server (like https://10.0.0.1:6443)", s)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Flags formats flags as --name=value sorted by name, dropping empty values
// (upstream's default), then appends extra (a component's --<name>-arg
// values, with or without their leading --), which upstream parses last and
// so lets win.
func Flags(flags map[string]string, extra []string) []string {
	names := make([]string, 0, len(flags))
	for k, v := range flags {
		if v != "" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	argv := make([]string, 0, len(names)+len(extra))
	for _, k := range names {
		argv = append(argv, "--"+k+"="+flags[k])
	}
	for _, a := range extra {
		if !strings.HasPrefix(a, "--") {
			a = "--" + a
		}
		argv = append(argv, a)
	}
	return argv
}

func bad(format string, args ...any) error {
	return errors.Wrapf(ErrBadInput, format, args...)
}

func cidr(flag, s string) (*net.IPNet, error) {
	ip, n, err := net.ParseCIDR(s)
	if err != nil || !ip.Equal(n.IP) {
		return nil, bad("%s %q: not a CIDR network address (like %s)", flag, s, map[string]string{"--cluster-cidr": DefaultClusterCIDR, "--service-cidr": DefaultServiceCIDR}[flag])
	}
	if ones, bits := n.Mask.Size(); bits-ones < 8 {
		return nil, bad("%s %s: too small, want at least a /%d", flag, s, bits-8)
	}
	return n, nil
}

func checkLabel(l string) error {
	k, v, ok := strings.Cut(l, "=")
	if !ok {
		return bad("--node-label %q: want key=value", l)
	}
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return bad("--node-label %q: key: %s", l, errs[0])
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return bad("--node-label %q: value: %s", l, errs[0])
	}
	return nil
}

func checkTaint(t string) error {
	kv, effect, ok := strings.Cut(t, ":")
	switch effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		ok = false
	}
	if !ok {
		return bad("--node-taint %q: want key=value:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute", t)
	}
	k, v, _ := strings.Cut(kv, "=")
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return bad("--node-taint %q: key: %s", t, errs[0])
	}
	if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
		return bad("--node-taint %q: value: %s", t, errs[0])
	}
	return nil
}

// Paths under the data directory.
func (c *Config) ServerDir() string    { return filepath.Join(c.DataDir, "server") }
func (c *Config) TLSDir() string       { return filepath.Join(c.ServerDir(), "tls") }
func (c *Config) CredDir() string      { return filepath.Join(c.ServerDir(), "cred") }
func (c *Config) TokenFile() string    { return filepath.Join(c.ServerDir(), "token") }
func (c *Config) EtcdDir() string      { return filepath.Join(c.ServerDir(), "db", "etcd") }
func (c *Config) ManifestsDir() string { return filepath.Join(c.ServerDir(), "manifests") }
func (c *Config) EncryptionConfig() string {
	return filepath.Join(c.ServerDir(), "cred", "encryption-config.json")
}
func (c *Config) AgentDir() string  { return filepath.Join(c.DataDir, "agent") }
func (c *Config) ImagesDir() string { return filepath.Join(c.AgentDir(), "images") }

// AgentFile is a path under the agent's directory.
func (c *Config) AgentFile(name string) string { return filepath.Join(c.AgentDir(), name) }

// ContainerdStateDir is containerd's state (sockets, task state): cleared by a reboot.
func (c *Config) ContainerdStateDir() string { return filepath.Join(c.RunDir, "containerd") }

// ContainerdSocket is containerd's API socket.
func (c *Config) ContainerdSocket() string {
	return filepath.Join(c.ContainerdStateDir(), "containerd.sock")
}

// CNIBinDir holds the CNI plugins; CNIConfDir the pod network's conflist.
func (c *Config) CNIBinDir() string  { return filepath.Join(c.BinDir, "cni") }
func (c *Config) CNIConfDir() string { return c.AgentFile("etc/cni/net.d") }

// TLS returns the path of a file in the TLS directory.
func (c *Config) TLS(name string) string { return filepath.Join(c.TLSDir(), name) }

// Kubeconfigs of the components.
func (c *Config) Cred(name string) string { return filepath.Join(c.CredDir(), name+".kubeconfig") }

// IsAgent says whether c is an agent's (it joins ServerURL).
func (c *Config) IsAgent() bool { return c.ServerURL != "" }

// NodeTLS is a path of the node's credentials (its CAs, the kubelet's and
// kube-proxy's certificates): the server's TLS directory on a server, what
// the agent got from its server (agent/pki) on an agent. The names are the
// same on both.
func (c *Config) NodeTLS(name string) string {
	if c.IsAgent() {
		return filepath.Join(c.AgentDir(), "pki", name)
	}
	return c.TLS(name)
}

// NodeCred is the kubeconfig of a node component (kubelet, kube-proxy,
// flannel).
func (c *Config) NodeCred(name string) string {
	if c.IsAgent() {
		return filepath.Join(c.AgentDir(), "cred", name+".kubeconfig")
	}
	return c.Cred(name)
}

// AdvertiseIP is the address in certificates and kubeconfigs for others.
func (c *Config) AdvertiseIP() net.IP { return c.NodeIP }

// APIServiceIP is the first address of the service range: the kubernetes
// Service's cluster IP.
func (c *Config) APIServiceIP() net.IP {
	ip := make(net.IP, len(c.ServiceCIDR.IP))
	copy(ip, c.ServiceCIDR.IP)
	ip[len(ip)-1]++
	return ip
}
