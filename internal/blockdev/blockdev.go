// Package blockdev tells what block devices a machine has and what file
// system each holds: List walks sysfs's sys/class/block with an explicit
// Filter of what to leave out, and Identify reads a file system's type and
// label from its superblock, without mounting it (ext2/3/4, ISO 9660, FAT
// and squashfs: what bos-init looks for its media by, what a config drive
// or NoCloud volume is, and what the installer checks a partition for).
//
// Both read under a root (an fs.FS for the walk, an io.ReaderAt for the
// superblock), so that tests give them a directory with sys/ and image
// files.
package blockdev

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/pkg/errors"
)

// File-system types that Identify tells, spelt as mount(2) takes them.
const (
	Ext4     = "ext4" // ext2, ext3 and ext4 share the superblock
	ISO9660  = "iso9660"
	VFAT     = "vfat"
	Squashfs = "squashfs"
)

// Identify reads the superblock of a device or image and returns the file
// system's type and label: the ISO 9660 volume id, the FAT volume label of
// the boot sector ("NO NAME" is none), the ext volume name; squashfs has
// none. It returns "", "" for anything else, a read that fails included.
func Identify(r io.ReaderAt) (fstype, label string) {
	if l, ok := extLabel(r); ok {
		return Ext4, l
	}
	if l, ok := isoLabel(r); ok {
		return ISO9660, l
	}
	boot := make([]byte, 512)
	if n, _ := r.ReadAt(boot, 0); n != len(boot) {
		return "", ""
	}
	if string(boot[0:4]) == "hsqs" {
		return Squashfs, ""
	}
	if l, ok := fatLabel(boot); ok {
		return VFAT, l
	}
	return "", ""
}

// extLabel reads an ext2/3/4 superblock: at 1024, the magic 0xEF53 at
// 0x38, the volume name (16 bytes, NUL-padded) at 0x78.
func extLabel(r io.ReaderAt) (string, bool) {
	sb := make([]byte, 0x78+16)
	if n, _ := r.ReadAt(sb, 1024); n != len(sb) || binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return "", false
	}
	return cString(sb[0x78:]), true
}

// isoLabel finds the primary volume descriptor of ISO 9660: volume
// descriptors of 2048 bytes from sector 16, each "CD001" at 1, type 1 the
// primary one (its volume id at 40, 32 bytes padded with spaces), type 255
// the end of the set.
func isoLabel(r io.ReaderAt) (string, bool) {
	vd := make([]byte, 2048)
	for sector := int64(16); sector < 32; sector++ {
		if n, _ := r.ReadAt(vd, sector*2048); n != len(vd) || string(vd[1:6]) != "CD001" {
			return "", false
		}
		switch vd[0] {
		case 1:
			return strings.TrimRight(string(vd[40:72]), " \x00"), true
		case 255:
			return "", false
		}
	}
	return "", false
}

// fatLabel reads a FAT boot sector: the signature 55 AA at 510 and a BIOS
// parameter block that makes sense (bytes per sector a power of two from
// 512 to 4096, sectors per cluster a power of two, reserved sectors, one
// to four FATs). FAT32 has 0 in the 16-bit sectors-per-FAT field at 22;
// its extended BPB (signature 0x29 or 0x28 at 66) has the label at 71,
// FAT12/16's (signature at 38) at 43.
func fatLabel(bs []byte) (string, bool) {
	if bs[510] != 0x55 || bs[511] != 0xAA {
		return "", false
	}
	bps := binary.LittleEndian.Uint16(bs[11:13])
	spc, reserved, fats := bs[13], binary.LittleEndian.Uint16(bs[14:16]), bs[16]
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return "", false
	case spc == 0 || spc&(spc-1) != 0, reserved == 0, fats == 0 || fats > 4:
		return "", false
	}
	sig, at := 38, 43
	if binary.LittleEndian.Uint16(bs[22:24]) == 0 {
		sig, at = 66, 71
	}
	if bs[sig] != 0x29 && bs[sig] != 0x28 {
		return "", true
	}
	l := strings.TrimRight(string(bs[at:at+11]), " \x00")
	if l == "NO NAME" {
		l = ""
	}
	return l, true
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// ClassDir is where sysfs lists every block device, partitions included,
// relative to the root.
const ClassDir = "sys/class/block"

// Device is a block device as sysfs lists it.
type Device struct {
	Name      string // sda, sda1, sr0, vda2: /dev/<Name>
	Sectors   int64  // size in 512-byte sectors; -1 when sysfs does not say
	Partition bool   // a partition of a disk
}

// Filter says which devices List leaves out.
type Filter struct {
	// Prefixes leaves out the devices whose names start with one of them:
	// "loop", "ram", "zram", "sr" ...
	Prefixes []string
	// Partitions leaves out partitions, keeping whole disks.
	Partitions bool
	// Empty leaves out devices of size 0 (an empty CD drive); one whose
	// size sysfs does not say is kept.
	Empty bool
}

func (f Filter) leaves(d Device) bool {
	for _, p := range f.Prefixes {
		if strings.HasPrefix(d.Name, p) {
			return true
		}
	}
	return (f.Partitions && d.Partition) || (f.Empty && d.Sectors == 0)
}

// List lists the block devices under root's sys/class/block in name
// order, less those that f leaves out; root is the machine's "/" (as
// os.DirFS("/")). No sys/class/block is no devices.
func List(root fs.FS, f Filter) ([]Device, error) {
	entries, err := fs.ReadDir(root, ClassDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errors.Wrap(err, "list "+ClassDir)
	}
	var devs []Device
	for _, e := range entries {
		d := describe(root, e.Name())
		if !f.leaves(d) {
			devs = append(devs, d)
		}
	}
	return devs, nil
}

// describe reads what sysfs says of one device.
func describe(root fs.FS, name string) Device {
	dir := path.Join(ClassDir, name)
	d := Device{Name: name, Sectors: -1}
	if n, err := strconv.ParseInt(readSmall(root, path.Join(dir, "size")), 10, 64); err == nil {
		d.Sectors = n
	}
	if _, err := fs.Stat(root, path.Join(dir, "partition")); err == nil {
		d.Partition = true
	}
	return d
}

// readSmall reads a sysfs attribute, trimmed. It reads what the file
// gives rather than the size it states: sysfs states 4096 for every
// attribute.
func readSmall(root fs.FS, name string) string {
	f, err := root.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	return strings.TrimSpace(string(b))
}
