// Command bos is the Bhojpur OS toolkit in one static binary: bos-init,
// bos-config, bos-install, bos-upgrade-rootfs and bos-upgrade-kernel are
// links to it, and it runs the command named by its base name (/init in the
// initrd is bos-init), or by its first argument: `bos config show`. The
// image carries this one binary; cmd/bos-* build each command alone.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/multicall"
)

func main() {
	os.Exit(multicall.Main(os.Args, os.Getpid() == 1, cli.StdIO()))
}
