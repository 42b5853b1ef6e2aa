package install

import (
	"os"
	"path/filepath"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/exitcode"
)

// Facts is what probing found of DEVICE and of this machine: with the
// options, the config and the source, everything a plan is made from.
// checkDevice and buildPlan read nothing else, so they are tested with
// Facts made by hand. What a probe could not read is kept as an error
// beside its field, for the check that needs it to report in its turn.
type Facts struct {
	Device Device

	// InUse maps the disks the running system uses to why (probed for a
	// whole disk).
	InUse    map[string]string
	InUseErr error
	// Holders are the devices stacked on DEVICE or its partitions.
	Holders []string

	// Mounts are the mounted file systems (probed for a partition or
	// image, which must not be mounted, or be / for a takeover).
	Mounts    []MountedFS
	MountsErr error
	// The ext file system on a partition or image: ExtErr says why DEVICE
	// could not be read, IsExt whether it holds one, ExtLabel its label.
	ExtErr   error
	IsExt    bool
	ExtLabel string
	// Table is the GPT of the disk a partition is on (Device.DiskPath),
	// where GRUB's boot partitions are found.
	Table    []Partition
	TableErr error

	// Grub tells for each GRUB platform of the architecture whether its
	// modules are installed (/usr/lib/grub/PLATFORM).
	Grub map[string]bool
	// EFIBooted says this machine booted with EFI (/sys/firmware/efi).
	EFIBooted bool
	// HostGrubCfg is the grub.cfg the host's GRUB reads (a takeover).
	HostGrubCfg string
}

// MountedFS is a mounted file system and the kernel name of its source
// device ("" when it is not a device).
type MountedFS struct {
	Mount
	Name string
}

// probe gathers the facts of DEVICE. Only a DEVICE that cannot be
// inspected at all is an error here.
func (in *Installer) probe(arg string) (Facts, error) {
	pr := in.Probe()
	dev, err := pr.Device(arg)
	f := Facts{Device: dev}
	if err != nil {
		return f, errors.Wrap(exitcode.ErrBadInput, err.Error())
	}
	if dev.Kind == KindDisk {
		f.InUse, f.InUseErr = pr.InUse()
	}
	if dev.Name != "" {
		f.Holders = pr.Holders(dev.Name)
	}
	if dev.Kind != KindDisk {
		f.Mounts, f.MountsErr = probeMounts(pr)
		f.ExtLabel, f.IsExt, f.ExtErr = probeExt(dev.Path)
		if dev.DiskPath != "" {
			f.Table, f.TableErr = ReadTable(dev.DiskPath, dev.SectorSize)
		}
	}
	f.Grub = map[string]bool{}
	bios, efi := grubTargets(in.Arch)
	for _, target := range []string{bios, efi} {
		if target != "" {
			f.Grub[target] = in.haveGrub(target)
		}
	}
	f.EFIBooted = in.efiBooted()
	f.HostGrubCfg = in.hostGrubCfg()
	return f, nil
}

// probeMounts reads /proc/mounts and names each source device.
func probeMounts(pr Probe) ([]MountedFS, error) {
	ms, err := pr.Mounts()
	if err != nil {
		return nil, err
	}
	out := make([]MountedFS, 0, len(ms))
	for _, m := range ms {
		out = append(out, MountedFS{Mount: m, Name: pr.sourceName(m)})
	}
	return out, nil
}

// probeExt reads the ext superblock of a partition or image.
func probeExt(name string) (label string, isExt bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	label, isExt = ReadExtLabel(f)
	return label, isExt, nil
}

// haveGrub reports whether GRUB's modules for a platform are installed.
func (in *Installer) haveGrub(target string) bool {
	fi, err := os.Stat(filepath.Join(in.Root, "usr/lib/grub", target))
	return err == nil && fi.IsDir()
}

func (in *Installer) efiBooted() bool {
	_, err := os.Stat(filepath.Join(in.Root, "sys/firmware/efi"))
	return err == nil
}

// hostGrubCfg is the grub.cfg the host's GRUB reads: /boot/grub2 on hosts
// that use it (Fedora, openSUSE), else /boot/grub.
func (in *Installer) hostGrubCfg() string {
	g1 := filepath.Join(in.Root, "boot/grub")
	g2 := filepath.Join(in.Root, "boot/grub2")
	if _, err := os.Stat(filepath.Join(g1, "grub.cfg")); err != nil {
		if _, err := os.Stat(g2); err == nil {
			return filepath.Join(g2, "grub.cfg")
		}
	}
	return filepath.Join(g1, "grub.cfg")
}

// freeSpace is what the root file system has free for the copy of a
// takeover; ok is false when it cannot tell. It is probed after the source
// is opened: a downloaded ISO may be on that file system.
func (in *Installer) freeSpace() (free int64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(in.Root, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
