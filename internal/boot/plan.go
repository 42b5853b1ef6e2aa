package boot

import (
	"context"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/layout"
)

// The plan: the steps of each stage of the boot, built from what the
// stages before found. Each builder is pure: the same inputs give the same
// steps, so tests diff the plan without running it.

// KernelFSSteps mount the kernel's file systems.
func KernelFSSteps() []Step {
	const nsx = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []Step{
		Required{mountStep{"proc", "/proc", "proc", nsx, ""}},
		Required{mountStep{"sysfs", "/sys", "sysfs", nsx, ""}},
		Required{mountStep{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"}},
		mountStep{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
		mountStep{"tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		Required{mountStep{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"}},
		mountStep{"cgroup2", CgroupDir, "cgroup2", nsx, "nsdelegate"},
		funcStep{"enable the cgroup controllers for the children of " + CgroupDir, (*Boot).enableControllers},
	}
}

// DetectSteps read the cmdline, load modules, find the media and decide
// the mode.
func DetectSteps() []Step {
	return []Step{
		Required{funcStep{"read the kernel cmdline", func(b *Boot, _ context.Context) error { return b.readCmdline() }}},
		funcStep{"load the disk and CD-ROM drivers", func(b *Boot, _ context.Context) error { return b.loadModules(diskModules) }},
		Required{funcStep{"find the boot media", (*Boot).findMedia}},
		Required{funcStep{"decide the mode", (*Boot).decide}},
	}
}

// MediaSteps mount the media of a mode and resolve its layout.
func MediaSteps(mode Mode, m Media) []Step {
	load := funcStep{"load the file-system modules of mode " + string(mode) + " (" + strings.Join(fsModules[mode], ", ") + ")",
		func(b *Boot, _ context.Context) error { return b.loadModules(fsModules[mode]) }}
	switch mode {
	case ModeDisk:
		return append([]Step{load}, stateSteps(m.State)...)
	case ModeLive, ModeInstall:
		return append([]Step{load}, isoSteps(m.ISO)...)
	}
	return nil
}

// stateSteps mount BOS_STATE, finish what an installer or an upgrade left
// to the boot and resolve the versions there.
func stateSteps(state *Device) []Step {
	return []Step{
		Required{mountStep{state.Path, layout.StateDir, blockdev.Ext4, 0, ""}},
		Required{funcStep{"finish a pending takeover on " + layout.StateDir, (*Boot).finishTakeover}},
		funcStep{"check for a trial boot of an upgrade (roll back after a failed one)", (*Boot).checkTrial},
		resolveStep(layout.StateDir),
	}
}

// isoSteps mount the ISO, a device or a downloaded file, and resolve the
// versions on it.
func isoSteps(iso *Device) []Step {
	var mount Step = mountStep{iso.Path, layout.MediaDir, blockdev.ISO9660, unix.MS_RDONLY, ""}
	if iso.File {
		mount = loopMountStep{iso.Path, layout.MediaDir, blockdev.ISO9660}
	}
	return []Step{Required{mount}, resolveStep(layout.MediaDir)}
}

func resolveStep(media string) Step {
	return Required{funcStep{"find the current versions under " + media, func(b *Boot, _ context.Context) error { return b.resolve(media) }}}
}

// RootSteps assemble the new root for a mode and switch into it. It is
// pure: the same inputs give the same plan.
func RootSteps(mode Mode, l Layout, consoles []Console) []Step {
	steps := imageSteps(l)
	for _, d := range []string{"var", "home", "opt"} {
		steps = append(steps, dataSteps(mode, d)...)
	}
	steps = append(steps,
		mkdirStep{NewRoot + layout.SSHKeysDir, 0o700},
		Required{bindStep{l.Media + "/bos", NewRoot + "/bos", true}},
		inittabStep{mode, consoles},
	)
	if mode == ModeLive || mode == ModeInstall {
		steps = append(steps, liveLoginStep())
	}
	return append(steps,
		openrcStep{NewRoot},
		initrdPhaseStep{NewRoot},
		Required{switchRootStep{NewRoot, InitPath}},
	)
}

// imageSteps make the new root from the images: a tmpfs with the rootfs's
// top level, its /usr and the kernel's modules and firmware read-only,
// its /etc writable through an overlay.
func imageSteps(l Layout) []Step {
	return []Step{
		Required{mountStep{"tmpfs", NewRoot, "tmpfs", 0, "mode=0755"}},
		Required{loopMountStep{l.BosDir + "/rootfs.squashfs", layout.RootfsDir, blockdev.Squashfs}},
		Required{loopMountStep{l.KernelDir + "/kernel.squashfs", layout.KernelDir, blockdev.Squashfs}},
		Required{skeletonStep{layout.RootfsDir, NewRoot}},
		Required{bindStep{layout.RootfsDir + "/usr", NewRoot + "/usr", true}},
		Required{bindStep{layout.KernelDir + "/lib/modules", NewRoot + "/usr/lib/modules", true}},
		bindStep{layout.KernelDir + "/lib/firmware", NewRoot + "/usr/lib/firmware", true},
		Required{overlayStep{layout.RootfsDir + "/etc", layout.EtcChanges, NewRoot + "/etc"}},
	}
}

// dataSteps give the new root its directory d (var, home, opt): seeded
// from the image on the root's tmpfs, or in disk mode bound from
// BOS_STATE's data directory, which keeps it across boots, and seeded
// there with what it lacks.
func dataSteps(mode Mode, d string) []Step {
	var steps []Step
	if mode == ModeDisk {
		data := layout.StateDir + "/" + layout.DataDir + "/" + d
		steps = append(steps,
			Required{mkdirStep{data, 0o755}},
			Required{bindStep{data, NewRoot + "/" + d, false}})
	}
	return append(steps, Required{seedStep{layout.RootfsDir + "/" + d, NewRoot + "/" + d}})
}
