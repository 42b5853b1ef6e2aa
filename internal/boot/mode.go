package boot

import (
	"fmt"
	"strings"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/layout"
)

// Mode is how the system boots.
type Mode string

// The boot modes.
const (
	// ModeLive runs the system from the ISO (a CD, a USB stick, or the ISO
	// of bos.install.iso_url in RAM), with every change in RAM.
	ModeLive Mode = "live"
	// ModeInstall is live mode whose console belongs to the installer.
	ModeInstall Mode = "install"
	// ModeDisk runs the installed system: its versions and its data on the
	// ext4 partition labelled BOS_STATE.
	ModeDisk Mode = "disk"
	// ModeLocal runs on a root file system that is already there, without
	// this initrd; bos-init refuses it.
	ModeLocal Mode = "local"
	// ModeShell is the initrd's rescue shell.
	ModeShell Mode = "shell"
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

// decideMode decides the mode from the cmdline and the media found, and
// says why. The rules:
//
//   - bos.mode=MODE forces a mode: shell always; disk if there is a
//     BOS_STATE; live or install if there is the ISO, or else an
//     bos.install.iso_url to download it from (needsNetboot); local and
//     unknown modes are errors. A forced mode that cannot be honoured is an
//     error.
//   - Otherwise a BOS_STATE means disk, whatever else there is.
//   - With no BOS_STATE, bos.fallback_mode=install means install, from the
//     ISO or else from bos.install.iso_url.
//   - The ISO alone means live.
//   - With nothing, it returns ModeShell and why (bos.install.iso_url alone
//     does not boot: it needs a mode or the fallback that asks for it).
func decideMode(p Params, m Media) (Mode, string, error) {
	if p.Mode != "" {
		return forcedMode(p, m)
	}
	return detectedMode(p, m)
}

// forcedMode is the mode bos.mode asks for, if the media allow it.
func forcedMode(p Params, m Media) (Mode, string, error) {
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
	}
	return "", "", fmt.Errorf("bos.mode=%s: unknown mode (want live, install, disk, local or shell)", p.Mode)
}

// detectedMode is the mode the media found call for.
func detectedMode(p Params, m Media) (Mode, string, error) {
	fallbackInstall := strings.EqualFold(p.FallbackMode, string(ModeInstall))
	switch {
	case m.State != nil:
		return ModeDisk, "found " + layout.LabelState + " on " + m.State.Path, nil
	case fallbackInstall && m.ISO != nil:
		return ModeInstall, "no " + layout.LabelState + " and bos.fallback_mode=install", nil
	case fallbackInstall && p.ISOURL != "":
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
