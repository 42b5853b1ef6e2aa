package boot

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
)

// File-system types that readLabel recognises.
const (
	FSExt4     = "ext4" // ext2/3/4 share the superblock; BOS_STATE is ext4
	FSISO9660  = "iso9660"
	FSVFAT     = "vfat"
	FSSquashfs = "squashfs"
)

// readLabel identifies the file system on a block device or image from its
// superblock and returns its type and label (the ISO volume id for
// iso9660). It returns "", "" for anything it does not know.
func readLabel(r io.ReaderAt) (fstype, label string) {
	// ext2/3/4: superblock at 1024, magic 0xEF53 at +0x38, name at +0x78.
	sb := make([]byte, 1024)
	if n, _ := r.ReadAt(sb, 1024); n == len(sb) && binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		return FSExt4, cString(sb[0x78 : 0x78+16])
	}
	// iso9660: primary volume descriptor in sector 16: type 1, "CD001",
	// volume identifier at 40, 32 bytes padded with spaces.
	pvd := make([]byte, 2048)
	if n, _ := r.ReadAt(pvd, 16*2048); n == len(pvd) && pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		return FSISO9660, strings.TrimRight(string(pvd[40:72]), " \x00")
	}
	boot := make([]byte, 512)
	if n, _ := r.ReadAt(boot, 0); n != len(boot) {
		return "", ""
	}
	if string(boot[0:4]) == "hsqs" {
		return FSSquashfs, ""
	}
	// FAT: boot sector signature 55 AA; FAT32 keeps its label at 0x47 and
	// "FAT32" at 0x52, FAT12/16 at 0x2B and "FAT1x" at 0x36.
	if boot[510] == 0x55 && boot[511] == 0xAA {
		switch {
		case bytes.HasPrefix(boot[0x52:], []byte("FAT32")):
			return FSVFAT, fatLabel(boot[0x47 : 0x47+11])
		case bytes.HasPrefix(boot[0x36:], []byte("FAT1")):
			return FSVFAT, fatLabel(boot[0x2B : 0x2B+11])
		}
	}
	return "", ""
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func fatLabel(b []byte) string {
	l := strings.TrimRight(string(b), " \x00")
	if l == "NO NAME" {
		return ""
	}
	return l
}
