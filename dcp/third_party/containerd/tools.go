//go:build tools

// Package containerd pins the containerd release that DCP runs (containerd,
// its runc shim, ctr), so that the Makefile builds it with go build from
// checksummed sources, for any GOARCH, with upstream's own dependency
// versions. Nothing here is compiled into dcp.
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
