// Command bos-config loads, merges, validates, shows and applies the Bhojpur OS config.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(cli.Run("bos-config", app.ConfigDescription, &app.ConfigCLI{}, os.Args[1:], cli.StdIO()))
}
