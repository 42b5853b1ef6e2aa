// Command bos-upgrade-rootfs upgrades the Bhojpur OS root file system and DCP to a
// release, verified, with a trial boot and rollback; built alone (the image
// carries the multi-call cmd/bos instead). `bos-upgrade-rootfs --help` has the flags.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosupgrade"
)

func main() {
	os.Exit(bosupgrade.RootfsMain(bosupgrade.RootfsName, os.Args[1:], cli.StdIO()))
}
