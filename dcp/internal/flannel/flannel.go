// Package flannel runs the pod network between nodes in dcp's process, as
// k3s embeds it: flannel's vxlan backend with the kube subnet manager. A
// node's subnet is its pod range (kube-controller-manager's), the other
// nodes' subnets and VTEPs come from their Node objects' annotations, and
// flannel's iptables rules masquerade traffic that leaves the cluster's pod
// range and accept what is forwarded within it.
package flannel

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/flannel-io/flannel/pkg/backend"
	_ "github.com/flannel-io/flannel/pkg/backend/vxlan" // registers "vxlan"
	"github.com/flannel-io/flannel/pkg/ip"
	"github.com/flannel-io/flannel/pkg/ipmatch"
	"github.com/flannel-io/flannel/pkg/subnet/kube"
	"github.com/flannel-io/flannel/pkg/trafficmngr/iptables"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/dcp/internal/config"
	"github.com/bhojpur/os/dcp/internal/pki"
)

// AnnotationPrefix is the prefix of flannel's Node annotations (flannel's
// own, so that its tools read them).
const AnnotationPrefix = "flannel.alpha.coreos.com"

// Periods, in seconds, at which flannel checks its iptables rules.
const (
	masqResync    = 60
	forwardResync = 50
)

// Options are what Start needs of the node.
type Options struct {
	NodeName   string
	Kubeconfig string     // flannel's own identity (system:dcp-flannel)
	Network    *net.IPNet // the cluster's pod range
	NodeIP     net.IP     // the VTEP's address, unless Iface says another
	Iface      string     // --flannel-iface: the interface of the VTEP; "" is NodeIP's
	Dir        string     // net-conf.json and the rules' state (under /run: a reboot clears both)
}

// Network is the node's part of the pod network.
type Network struct {
	Subnet *net.IPNet // this node's pods' range
	MTU    int        // the pods' interfaces' MTU (the VTEP's underlay minus vxlan's header)
	Iface  string     // the interface the VTEP sends on
	VTEP   net.IP     // the address other nodes send this node's pods' traffic to
}

// NetConf is flannel's net-conf.json for o: the cluster's pod range, IPv4
// only, the vxlan backend on flannel's defaults (VNI 1, the kernel's UDP
// port 8472).
func NetConf(o Options) []byte {
	b, _ := json.Marshal(map[string]any{
		"Network":    o.Network.String(),
		"EnableIPv4": true,
		"EnableIPv6": false,
		"Backend":    map[string]string{"Type": "vxlan"},
	})
	return append(b, '\n')
}

// Start registers the node in the pod network and runs flannel until ctx is
// done: it creates the vxlan device, puts this node's VTEP in its Node's
// annotations, routes the other nodes' subnets through it, and keeps the
// iptables rules. It returns once the node has its lease (it waits for
// the node's pod range and for flannel's RBAC, applied by the server's
// manifests).
func Start(ctx context.Context, o Options) (*Network, error) {
	ext, err := externalInterface(o)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, errors.WithStack(err)
	}
	netConf := filepath.Join(o.Dir, "net-conf.json")
	if err := pki.WriteFile(netConf, NetConf(o), 0o644); err != nil {
		return nil, err
	}
	// The kube subnet manager takes the node's name from the environment
	// only.
	if err := os.Setenv("NODE_NAME", o.NodeName); err != nil {
		return nil, errors.WithStack(err)
	}
	sm, err := kube.NewSubnetManager(ctx, "", o.Kubeconfig, AnnotationPrefix, netConf, false)
	if err != nil {
		return nil, errors.Wrap(err, "flannel: the kube subnet manager")
	}
	cfg, err := sm.GetNetworkConfig(ctx)
	if err != nil {
		return nil, errors.Wrap(err, "flannel: the network's configuration")
	}
	be, err := backend.NewManager(ctx, sm, ext).GetBackend(cfg.BackendType)
	if err != nil {
		return nil, errors.Wrapf(err, "flannel: the %s backend", cfg.BackendType)
	}
	var wg sync.WaitGroup // flannel's goroutines; they end with ctx
	bn, err := be.RegisterNetwork(ctx, &wg, cfg)
	if err != nil {
		return nil, errors.Wrapf(err, "flannel: register node %s's subnet (modprobe vxlan?)", o.NodeName)
	}
	if err := rules(ctx, o.Dir, cfg.Network, bn); err != nil {
		return nil, err
	}
	go bn.Run(ctx)
	return &Network{Subnet: bn.Lease().Subnet.ToIPNet(), MTU: bn.MTU(), Iface: ext.IfaceName, VTEP: ext.ExtAddr}, nil
}

// externalInterface is the VTEP's interface and address: o.Iface's (NodeIP
// if it is one of its addresses, else its first IPv4 address), or the
// interface that holds NodeIP.
func externalInterface(o Options) (*backend.ExternalInterface, error) {
	v4, _ := ipmatch.GetIPFamily(true, false)
	if o.Iface == "" {
		ext, err := ipmatch.LookupExtIface(o.NodeIP.String(), "", "", v4, ipmatch.PublicIPOpts{})
		if err != nil {
			return nil, errors.Wrapf(config.ErrBadInput, "flannel: the node IP %s is on no interface of this host (%v): give --flannel-iface with the interface other nodes reach this one through", o.NodeIP, err)
		}
		return ext, nil
	}
	ext, err := ipmatch.LookupExtIface(o.Iface, "", "", v4, ipmatch.PublicIPOpts{})
	if err != nil {
		return nil, errors.Wrapf(config.ErrBadInput, "--flannel-iface %q: %v (ip -br addr lists this host's interfaces)", o.Iface, err)
	}
	if addrs, err := ip.GetInterfaceIP4Addrs(ext.Iface); err == nil {
		for _, a := range addrs {
			if a.Equal(o.NodeIP) {
				ext.IfaceAddr, ext.ExtAddr = a, a
			}
		}
	}
	return ext, nil
}

// state is the network and subnet the iptables rules were last made for:
// flannel replaces rules of another network or subnet.
type state struct {
	Network ip.IP4Net `json:"network"`
	Subnet  ip.IP4Net `json:"subnet"`
}

// rules sets up flannel's masquerade and forward rules for network and the
// node's lease, replacing those of a previous start with another network
// or subnet (dir/rules.json says; a reboot clears both it and the rules).
func rules(ctx context.Context, dir string, network ip.IP4Net, bn backend.Network) error {
	tm := &iptables.IPTablesManager{}
	if err := tm.Init(ctx); err != nil {
		return errors.Wrap(err, "flannel: iptables")
	}
	subnet := bn.Lease().Subnet
	prev := state{Network: network, Subnet: subnet}
	path := filepath.Join(dir, "rules.json")
	if b, err := os.ReadFile(path); err == nil {
		var s state
		if json.Unmarshal(b, &s) == nil && !s.Network.Empty() && !s.Subnet.Empty() {
			prev = s
		}
	}
	if err := tm.SetupAndEnsureMasqRules(ctx, network, prev.Subnet, prev.Network, ip.IP6Net{}, ip.IP6Net{}, ip.IP6Net{}, bn.Lease(), masqResync, false); err != nil {
		return errors.Wrap(err, "flannel: masquerade rules")
	}
	b, _ := json.Marshal(state{Network: network, Subnet: subnet})
	if err := pki.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	tm.SetupAndEnsureForwardRules(ctx, network, ip.IP6Net{}, forwardResync)
	return nil
}
