// Command bos-upgrade-kernel upgrades the Bhojpur OS kernel, modules and firmware.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(cli.Run("bos-upgrade-kernel", app.UpgradeKernelDescription, app.NewUpgradeCLI("kernel"), os.Args[1:], cli.StdIO()))
}
