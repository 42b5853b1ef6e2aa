package install

import (
	"fmt"
	"os"
	"strings"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/layout"
)

// Sizes of the layout.
const (
	MiB = int64(1) << 20
	GiB = int64(1) << 30

	// BIOSBootSize holds GRUB's core image on BIOS machines.
	BIOSBootSize = 1 * MiB
	// ESPSize is the FAT32 EFI system partition BOS_GRUB; FAT32 needs at
	// least 65525 clusters, which 128 MiB gives with 1 KiB clusters.
	ESPSize = 128 * MiB
	// ESPSize4K is the ESP on disks with 4 KiB sectors, where clusters are
	// 4 KiB and FAT32 needs 260 MiB.
	ESPSize4K = 260 * MiB
	// MinStateSize is the smallest BOS_STATE accepted.
	MinStateSize = 2 * GiB
	// alignment of every partition start.
	alignment = 1 * MiB
)

// Labels and partition names.
const (
	NameBIOS = "BIOS_BOOT"
)

// Partition is one entry of the planned GPT.
type Partition struct {
	Num   int
	Name  string   // GPT partition name (PARTNAME in uevent)
	Label string   // file-system label, "" for none
	FS    string   // "vfat", "ext4" or "" (raw)
	Type  gpt.Type // type GUID
	Code  string   // sgdisk's short type code, for people
	Start int64    // bytes from the start of the disk
	Size  int64    // bytes
}

// Layout is the partition table bos-install writes.
type Layout struct {
	DiskSize   int64
	SectorSize int64
	Parts      []Partition
}

// ErrTooSmall says the disk cannot hold the layout.
var ErrTooSmall = errors.New("too small")

// NewLayout plans the partitions of a disk of diskSize bytes: on amd64 a
// BIOS boot partition, the ESP and BOS_STATE filling the rest; on other
// architectures (UEFI only) the ESP and BOS_STATE.
func NewLayout(arch string, diskSize, sectorSize int64) (Layout, error) {
	if sectorSize <= 0 {
		sectorSize = 512
	}
	l := Layout{DiskSize: diskSize, SectorSize: sectorSize}
	start := alignment
	add := func(name, label, fs, code string, typ gpt.Type, size int64) {
		l.Parts = append(l.Parts, Partition{Num: len(l.Parts) + 1, Name: name, Label: label, FS: fs, Type: typ, Code: code, Start: start, Size: size})
		start += size
	}
	if arch == "amd64" || arch == "386" {
		add(NameBIOS, "", "", "EF02", gpt.BIOSBoot, BIOSBootSize)
	}
	esp := ESPSize
	if sectorSize >= 4096 {
		esp = ESPSize4K // FAT32 clusters are at least a sector
	}
	add(layout.LabelGrub, layout.LabelGrub, "vfat", "EF00", gpt.EFISystemPartition, esp)
	// The backup GPT takes the last sector plus a 16 KiB entry array.
	lastUsable := diskSize/sectorSize - 1 - 16384/sectorSize - 1
	end := (lastUsable + 1) * sectorSize
	state := (end - start) / alignment * alignment
	if state < MinStateSize {
		need := start + MinStateSize + alignment
		return l, errors.Wrapf(ErrTooSmall, "%s, Bhojpur OS needs at least %s (a BOS_STATE of %s after the boot partitions)",
			Size(diskSize), Size(need), Size(MinStateSize))
	}
	add(layout.LabelState, layout.LabelState, "ext4", "8300", gpt.LinuxFilesystem, state)
	return l, nil
}

// Part returns the partition with the given file-system label or name.
func (l Layout) Part(name string) (Partition, bool) {
	for _, p := range l.Parts {
		if p.Name == name || (p.Label != "" && p.Label == name) {
			return p, true
		}
	}
	return Partition{}, false
}

// Table is the layout as a go-diskfs GPT.
func (l Layout) Table() *gpt.Table {
	t := &gpt.Table{
		LogicalSectorSize:  int(l.SectorSize),
		PhysicalSectorSize: int(l.SectorSize),
		ProtectiveMBR:      true,
	}
	for _, p := range l.Parts {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Num,
			Start: uint64(p.Start / l.SectorSize),
			End:   uint64((p.Start+p.Size)/l.SectorSize - 1),
			Type:  p.Type,
			Name:  p.Name,
		})
	}
	return t
}

// WriteTable writes the layout's GPT (protective MBR, primary and backup
// tables) to f, an open disk or image file.
func (l Layout) WriteTable(f *os.File) error {
	if err := l.Table().Write(f, l.DiskSize); err != nil {
		return errors.Wrapf(err, "write GPT on %s", f.Name())
	}
	return nil
}

// ReadTable reads the GPT of a disk or image file back as partitions.
func ReadTable(name string, sectorSize int64) ([]Partition, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := gpt.Read(f, int(sectorSize), int(sectorSize))
	if err != nil {
		return nil, errors.Wrapf(err, "read GPT of %s", name)
	}
	var parts []Partition
	for _, p := range t.Partitions {
		if p == nil || p.Type == gpt.Unused {
			continue
		}
		parts = append(parts, Partition{
			Num:   p.Index,
			Name:  p.Name,
			Type:  gpt.Type(strings.ToUpper(string(p.Type))),
			Start: int64(p.Start) * sectorSize,
			Size:  int64(p.End-p.Start+1) * sectorSize,
		})
	}
	return parts, nil
}

// PartitionDevice names partition n of disk the kernel's way: a disk whose
// name ends in a digit gets a "p" first (/dev/nvme0n1p1, /dev/mmcblk0p1,
// /dev/loop0p1), others do not (/dev/vda1, /dev/sda1).
func PartitionDevice(disk string, n int) string {
	if disk != "" && disk[len(disk)-1] >= '0' && disk[len(disk)-1] <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}
	return fmt.Sprintf("%s%d", disk, n)
}

// Size prints a byte count for people: 20 GiB, 128 MiB, 1.5 GiB.
func Size(n int64) string {
	switch {
	case n >= GiB:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/float64(GiB))) + " GiB"
	case n >= MiB:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/float64(MiB))) + " MiB"
	case n >= 1024:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/1024)) + " KiB"
	}
	return fmt.Sprintf("%d B", n)
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
