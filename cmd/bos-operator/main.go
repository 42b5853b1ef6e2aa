// Command bos-operator runs in the cluster from its own image: the Plan
// controller (bos-operator controller) and the drain step of the upgrade
// Jobs it creates (bos-operator drain). `bos-operator --help` says more.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/cli"
	"github.com/bhojpur/os/internal/cli/bosoperator"
)

func main() {
	os.Exit(bosoperator.Main(bosoperator.Name, os.Args[1:], cli.StdIO()))
}
