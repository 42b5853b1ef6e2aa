package app

import "github.com/bhojpur/os/internal/cli"

// UpgradeRootfsDescription is bos-upgrade-rootfs's --help text.
const UpgradeRootfsDescription = `Upgrade the Bhojpur OS root file system and DCP to a release: download,
verify every artifact against the release's checksums, install into a new
version directory and switch the current link atomically.`

// UpgradeKernelDescription is bos-upgrade-kernel's --help text.
const UpgradeKernelDescription = `Upgrade the Bhojpur OS kernel (vmlinuz, initrd, modules and firmware) to a
release: download, verify, install into a new version directory and switch the
current link atomically. On overlay installs (a distro kernel) it warns and
does nothing.`

// UpgradeCLI is the command line shared by both upgrade commands.
type UpgradeCLI struct {
	cli.Globals
	Release     string `name:"release" aliases:"to" help:"Release to install (default: the latest of the channel)." env:"BOS_VERSION" placeholder:"VERSION"`
	Channel     string `help:"Release channel URL used to resolve the latest release." env:"BOS_CHANNEL_URL" default:"https://github.com/bhojpur/os/releases/latest" placeholder:"URL"`
	Source      string `help:"Install from this local bos/system tree instead of downloading." type:"path" placeholder:"DIR"`
	Destination string `help:"System tree to upgrade." default:"/bos/system" placeholder:"DIR"`
	LockFile    string `name:"lock-file" help:"Lock file; a second run fails and says who holds it." default:"/run/bos/upgrade.lock" placeholder:"FILE"`
	Remount     bool   `help:"Remount /bos read-write for the upgrade and read-only after."`
	Sync        bool   `help:"Sync file systems after the upgrade."`
	Reboot      bool   `help:"Reboot after a successful upgrade."`
	DryRun      bool   `name:"dry-run" help:"Say what would be done and change nothing."`
	Rollback    bool   `help:"Switch current back to previous."`
	component   string
}

// NewUpgradeCLI returns the CLI for one component (bos or kernel).
func NewUpgradeCLI(component string) *UpgradeCLI { return &UpgradeCLI{component: component} }

// Run upgrades.
func (c *UpgradeCLI) Run(env *cli.Env) error {
	return cli.NotImplemented("upgrading the " + c.component + " (issue 7)")
}
