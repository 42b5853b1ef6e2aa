// Command bos-upgrade-kernel upgrades the Bhojpur OS kernel to a
// release, verified, with a trial boot and rollback; built alone (the image
// carries the multi-call cmd/bos instead). `bos-upgrade-kernel --help` has the flags.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosupgrade"
)

func main() {
	os.Exit(bosupgrade.KernelMain(bosupgrade.KernelName, os.Args[1:], cli.StdIO()))
}
