// Command bos-install installs Bhojpur OS to a disk; built alone
// (the image carries the multi-call cmd/bos instead): `bos-install --help`
// says what it does.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosinstall"
)

func main() {
	os.Exit(bosinstall.Main(bosinstall.Name, os.Args[1:], cli.StdIO()))
}
