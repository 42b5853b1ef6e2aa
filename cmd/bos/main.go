// Command bos is the Bhojpur OS toolkit in one static binary: bos-init,
// bos-config, bos-install, bos-upgrade-rootfs and bos-upgrade-kernel are
// links to it, and it runs the command named by its base name (/init in the
// initrd is bos-init), or by its first argument: `bos config show`.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(app.Main(os.Args, os.Getpid() == 1, cli.StdIO()))
}
