// Command bos-init is PID 1 of the Bhojpur OS initrd.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(cli.Run("bos-init", app.InitDescription, &app.InitCLI{}, os.Args[1:], cli.StdIO()))
}
