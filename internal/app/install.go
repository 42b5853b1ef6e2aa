package app

import "github.com/bhojpur/os/internal/cli"

// InstallDescription is bos-install's --help text.
const InstallDescription = `Install Bhojpur OS to a disk: partition, format, copy the system from the
ISO, install GRUB for BIOS and UEFI, and write the config. With --no-format,
DEVICE is an existing partition; with --takeover, the running root partition.`

// InstallCLI is bos-install's command line. Its flags mirror install.sh.
type InstallCLI struct {
	cli.Globals
	ForceEFI bool   `name:"force-efi" help:"Install for EFI even when EFI is not detected."`
	TTY      string `name:"tty" help:"Console TTY of the installed system (for example ttyS0); default: detected." placeholder:"TTY"`
	PowerOff bool   `name:"poweroff" help:"Power off after installing instead of rebooting."`
	Takeover bool   `help:"Install onto the running root file system (needs --no-format and DEVICE the partition of /)."`
	NoFormat bool   `name:"no-format" help:"Do not partition or format: DEVICE is an existing BOS_STATE partition."`
	Config   string `help:"Config to install as /bos/system/config.yaml: a URL or a local path." placeholder:"URL|PATH"`
	Silent   bool   `help:"Ask no questions."`
	DryRun   bool   `name:"dry-run" help:"Print the plan and change nothing."`
	Device   string `arg:"" optional:"" help:"Disk to install to (/dev/vda), or with --no-format the partition (/dev/vda2)."`
	ISOURL   string `arg:"" name:"iso-url" optional:"" help:"ISO to install from (URL or path); default: the booted media."`
}

// Run installs.
func (c *InstallCLI) Run(env *cli.Env) error {
	return cli.NotImplemented("installing (issue 6)")
}
