// Command bos-upgrade-rootfs upgrades the Bhojpur OS root file system and DCP.
package main

import (
	"os"

	"github.com/bhojpur/os/internal/app"
	"github.com/bhojpur/os/internal/cli"
)

func main() {
	os.Exit(cli.Run("bos-upgrade-rootfs", app.UpgradeRootfsDescription, app.NewUpgradeCLI("bos"), os.Args[1:], cli.StdIO()))
}
