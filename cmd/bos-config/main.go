// Command bos-config loads, merges, validates, shows and applies the Bhojpur OS
// config; built alone it is a config validator for an operator's workstation
// (the image carries the multi-call cmd/bos instead): `bos-config --help`
// says what it does.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosconfig"
)

func main() {
	os.Exit(bosconfig.Main(bosconfig.Name, os.Args[1:], cli.StdIO()))
}
