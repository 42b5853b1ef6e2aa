//go:build tools

// Package coredns pins the CoreDNS release of DCP's cluster DNS image (see
// ../containerd/tools.go for why a module of its own).
package coredns

import (
	_ "github.com/coredns/coredns"
)
