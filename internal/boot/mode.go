package boot

import (
	"fmt"
	"strings"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/layout"
)

// Mode is how the system boots (DESIGN.md "Modes").
type Mode string

// The boot modes.
const (
	ModeLive    Mode = "live"
	ModeInstall Mode = "install"
	ModeDisk    Mode = "disk"
	ModeLocal   Mode = "local"
	ModeShell   Mode = "shell"
)

// Device is a block device and what its superblock says.
type Device struct {
	Name   string // sda, sr0, vda2
	Path   string // /dev/sda
	FSType string
	Label  string
	File   bool // an image file (a downloaded ISO), mounted through a loop device
}

func (d *Device) String() string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%s %q)", d.Path, d.FSType, d.Label)
}

// Media are the devices found by label.
type Media struct {
	State *Device // ext4 labelled BOS_STATE
	ISO   *Device // iso9660 with volume id BOS
}

// pick finds the media among devices; the first match of each wins
// (devices come sorted by name, so a whole disk before its partitions).
func pick(devs []Device) Media {
	var m Media
	for i := range devs {
		d := &devs[i]
		switch {
		case m.State == nil && d.FSType == blockdev.Ext4 && d.Label == layout.LabelState:
			m.State = d
		case m.ISO == nil && d.FSType == blockdev.ISO9660 && d.Label == layout.LabelISO:
			m.ISO = d
		}
	}
	return m
}

// decideMode applies DESIGN.md's rules: bos.mode forces a mode; a
// BOS_STATE means disk; with none, bos.fallback_mode=install installs from
// the ISO; the ISO alone means live. Live and install without the ISO boot
// from bos.install.iso_url when it is set (needsNetboot). With nothing it returns ModeShell and
// why. An error means a forced mode cannot be honoured.
func decideMode(p Params, m Media) (Mode, string, error) {
	if p.Mode != "" {
		mode := Mode(strings.ToLower(p.Mode))
		switch mode {
		case ModeShell:
			return ModeShell, "bos.mode=shell asks for the rescue shell", nil
		case ModeDisk:
			if m.State == nil {
				return "", "", fmt.Errorf("bos.mode=disk: no ext4 file system labelled %s found", layout.LabelState)
			}
			return ModeDisk, "bos.mode=disk", nil
		case ModeLive, ModeInstall:
			if m.ISO == nil && p.ISOURL == "" {
				return "", "", fmt.Errorf("bos.mode=%s: no boot media labelled %s found (without a CD or USB stick, bos.install.iso_url names an ISO to download)", mode, layout.LabelISO)
			}
			if m.ISO == nil {
				return mode, "bos.mode=" + string(mode) + ", no media labelled " + layout.LabelISO + ": the ISO of bos.install.iso_url", nil
			}
			return mode, "bos.mode=" + string(mode), nil
		case ModeLocal:
			return "", "", fmt.Errorf("bos.mode=local runs on an existing root, not from this initrd")
		default:
			return "", "", fmt.Errorf("bos.mode=%s: unknown mode (want live, install, disk, local or shell)", p.Mode)
		}
	}
	switch {
	case m.State != nil:
		return ModeDisk, "found " + layout.LabelState + " on " + m.State.Path, nil
	case strings.EqualFold(p.FallbackMode, string(ModeInstall)) && m.ISO != nil:
		return ModeInstall, "no " + layout.LabelState + " and bos.fallback_mode=install", nil
	case strings.EqualFold(p.FallbackMode, string(ModeInstall)) && p.ISOURL != "":
		return ModeInstall, "no " + layout.LabelState + " and bos.fallback_mode=install, no media labelled " + layout.LabelISO + ": the ISO of bos.install.iso_url", nil
	case m.ISO != nil:
		return ModeLive, "found the " + layout.LabelISO + " media on " + m.ISO.Path, nil
	}
	why := fmt.Sprintf("no boot media found: no ext4 %s and no %s (ISO) device", layout.LabelState, layout.LabelISO)
	if p.ISOURL != "" {
		why += "; bos.install.iso_url is downloaded with bos.mode=install, bos.mode=live or bos.fallback_mode=install"
	}
	return ModeShell, why, nil
}
