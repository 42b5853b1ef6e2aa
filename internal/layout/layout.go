// Package layout is the on-disk contract of Bhojpur OS: the names that
// bos-init, the installer, the upgraders, the image recipes and the
// operator's tools must agree on. Nothing here does anything; every
// package that needs one of these names takes it from here, so a name is
// written once.
//
// The system tree, on the boot media (the ISO, relative) and on BOS_STATE:
//
//	bos/system/bos/<version>/      the root file system image and tools
//	bos/system/kernel/<version>/   vmlinuz, initrd, kernel.squashfs
//	bos/system/dcp/<version>/      the DCP tree
//	bos/system/*/current, previous links to the version that boots and the one before
//	bos/system/config.yaml         the config the installer wrote
//	bos/data/                      persistent /var, /home, /opt (disk mode)
//
// At run time bos-init leaves under /run/bos what it mounted and decided.
package layout

// Commands are the toolkit's commands, in the order `bos --help` lists
// them. The multi-call binary carries them all and is linked under each
// name; cmd/<name> builds each alone. The Makefile and the image recipes
// take this list from `go run ./internal/tools/commands`.
var Commands = []string{"bos-init", "bos-config", "bos-install", "bos-upgrade-rootfs", "bos-upgrade-kernel"}

// Relative paths of the system tree, on the media and on BOS_STATE.
const (
	SystemDir = "bos/system" // the versioned system tree
	DataDir   = "bos/data"   // persistent data on BOS_STATE
)

// Files and mounts under /run/bos that bos-init leaves for the running
// system.
const (
	RunDir            = "/run/bos"
	ModeFile          = "/run/bos/mode"           // the boot mode: live, install, disk, local
	MediaDir          = "/run/bos/media"          // the ISO, read-only (live, install)
	StateDir          = "/run/bos/state"          // BOS_STATE (disk)
	RootfsDir         = "/run/bos/rootfs"         // rootfs.squashfs
	KernelDir         = "/run/bos/kernel"         // kernel.squashfs
	EtcChanges        = "/run/bos/etc"            // the ephemeral changes to /etc (overlay upper)
	VersionFile       = "/run/bos/version"        // the bos version mounted
	KernelVersionFile = "/run/bos/kernel-version" // the kernel version directory used
	TrialFile         = "/run/bos/trial"          // this boot is the trial of this version
	FallbackFile      = "/run/bos/fallback"       // GRUB fell back from a trial of this version
	WatchdogFile      = "/run/bos/watchdog"       // bos-init armed the trial watchdog
	PhasesDir         = "/run/bos/phases"         // a stamp per config phase applied
	UpgradeLock       = "/run/bos/upgrade.lock"   // held by a running upgrade
	NetbootDir        = "/run/bos/netboot"        // tmpfs holding a downloaded ISO (0700)
	NetbootISO        = NetbootDir + "/media.iso" // the downloaded ISO
	MediaURLFile      = "/run/bos/media-url"      // the URL a netbooted ISO came from
	DHCPDir           = "/run/bos/dhcp"           // the initrd's DHCP leases
	GrubEnvFile       = StateDir + "/boot/grub/grubenv"
	// The runtime phase on request (package phasereq): the operator's
	// node agent asks, the host's bos-apply service answers.
	PhaseRequest = "/run/bos/phase.request"
	PhaseResult  = "/run/bos/phase.result"
)

// Persistent paths of the running system.
const (
	SSHKeysDir = "/var/lib/bhojpur/os/ssh" // host keys kept across boots
)

// File-system and partition labels.
const (
	LabelState = "BOS_STATE" // the persistent partition
	LabelGrub  = "BOS_GRUB"  // the EFI system partition
	LabelISO   = "BOS"       // the ISO's volume
)

// Rootfs is the root file system tarball of an architecture (amd64,
// arm64); the functions below name the other release artifacts.
func Rootfs(arch string) string { return "bos-rootfs-" + arch + ".tar.gz" }

// Vmlinuz is the kernel image.
func Vmlinuz(arch string) string { return "bos-vmlinuz-" + arch }

// Initrd is bos-init's initrd.
func Initrd(arch string) string { return "bos-initrd-" + arch }

// KernelSquashfs is the kernel's modules and firmware.
func KernelSquashfs(arch string) string { return "bos-kernel-" + arch + ".squashfs" }

// KernelVersion is a one-line file naming the kernel's version.
func KernelVersion(arch string) string { return "bos-kernel-version-" + arch }

// ISO is the bootable image.
func ISO(arch string) string { return "bos-" + arch + ".iso" }

// Sums is the sha256sum list of every artifact of the release.
func Sums(arch string) string { return "sha256sum-" + arch + ".txt" }
