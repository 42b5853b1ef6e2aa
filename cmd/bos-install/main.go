// Command bos-install installs Bhojpur OS to a disk or partition.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(cli.Run("bos-install", app.InstallDescription, &app.InstallCLI{}, os.Args[1:], cli.StdIO()))
}
