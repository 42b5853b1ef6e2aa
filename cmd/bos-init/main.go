// Command bos-init is PID 1 of the Bhojpur OS initrd.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	if os.Getpid() == 1 {
		app.InitPID1() // never returns; argv is the kernel's stray words
	}
	os.Exit(cli.Run("bos-init", app.InitDescription, &app.InitCLI{}, os.Args[1:], cli.StdIO()))
}
