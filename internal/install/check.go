package install

import (
	"strings"

	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/exitcode"
	"github.com/bhojpur/os/internal/layout"
)

func bad(format string, args ...any) error {
	return errors.Wrapf(exitcode.ErrBadInput, format, args...)
}

// checkDevice refuses, from the facts, what the mode cannot install to;
// for a full install it lays out the partitions.
func checkDevice(o Options, arch string, f Facts) (*Layout, error) {
	if o.mode() == ModeFull {
		return checkDisk(o, arch, f)
	}
	return nil, checkPartition(o, f)
}

// checkDisk refuses a partition, and a disk the running system uses or
// that is too small for the layout.
func checkDisk(o Options, arch string, f Facts) (*Layout, error) {
	dev := f.Device
	if dev.Kind == KindPartition {
		return nil, bad("%s is a partition of /dev/%s: give the whole disk, or add --no-format to install onto this partition", o.Device, dev.DiskName)
	}
	if dev.Kind == KindDisk {
		if f.InUseErr != nil {
			return nil, f.InUseErr
		}
		if why := f.InUse[dev.Name]; why != "" {
			return nil, bad("%s holds the running system (%s): choose another disk", o.Device, why)
		}
		if len(f.Holders) > 0 {
			return nil, bad("%s is in use by %s: choose another disk", o.Device, strings.Join(f.Holders, ", "))
		}
	}
	l, err := NewLayout(arch, dev.Size, dev.SectorSize)
	if err != nil {
		return nil, errors.Wrapf(exitcode.ErrBadInput, "%s: %v", o.Device, err)
	}
	return &l, nil
}

// checkPartition refuses, for --no-format and --takeover, a whole disk, a
// mounted partition (but / for a takeover), a busy one, one without an
// ext4 file system and one too small for BOS_STATE.
func checkPartition(o Options, f Facts) error {
	dev := f.Device
	if dev.Kind == KindDisk {
		return bad("%s is a whole disk: --no-format takes a partition (such as %s)", o.Device, PartitionDevice(o.Device, 3))
	}
	if err := checkMounts(o, f); err != nil {
		return err
	}
	if dev.Name != "" && len(f.Holders) > 0 {
		return bad("%s is in use by %s", o.Device, strings.Join(f.Holders, ", "))
	}
	if f.ExtErr != nil {
		return bad("%s: %v", o.Device, f.ExtErr)
	}
	if !f.IsExt {
		return bad("%s holds no ext4 file system: --no-format and --takeover install onto an existing ext4 partition (create one with mkfs.ext4 -L %s, or install to the whole disk without --no-format)", o.Device, layout.LabelState)
	}
	if dev.Size < MinStateSize {
		return bad("%s: %s, %s needs at least %s", o.Device, Size(dev.Size), layout.LabelState, Size(MinStateSize))
	}
	return nil
}

// checkMounts refuses a mounted partition, and for a takeover one that is
// not the partition of /.
func checkMounts(o Options, f Facts) error {
	if f.MountsErr != nil {
		return f.MountsErr
	}
	dev := f.Device
	var rootSource string
	for _, m := range f.Mounts {
		if m.Target == "/" {
			rootSource = m.Source
		}
		if dev.Name == "" || m.Name != dev.Name {
			continue
		}
		if m.Target == "/" && o.Takeover {
			rootSource = ""
			break
		}
		if !o.Takeover {
			return bad("%s is mounted at %s: unmount it first, or use --takeover for the partition of /", o.Device, m.Target)
		}
	}
	if o.Takeover && (rootSource != "" || dev.Name == "") {
		return bad("--takeover: %s is not the partition of / (/ is %s)", o.Device, orNone(rootSource))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// checkFreeSpace refuses a takeover whose root cannot hold the system;
// when the free space is unknown, the copy will say.
func checkFreeSpace(free int64, known bool, src *Source) error {
	need := src.Bytes + 64*MiB
	if known && free < need {
		return bad("--takeover: / has %s free, the system needs %s", Size(free), Size(need))
	}
	return nil
}
