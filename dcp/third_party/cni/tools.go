//go:build tools

// Package cni pins the CNI plugins release whose bridge, host-local,
// loopback and portmap plugins make DCP's pod network (see
// ../containerd/tools.go for why a module of its own).
package cni

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
