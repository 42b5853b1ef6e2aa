package install

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/helper/iofs"
	"github.com/pkg/errors"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/exitcode"
)

// Kind is what a DEVICE argument names.
type Kind int

// Kinds of devices.
const (
	KindDisk      Kind = iota // a whole disk
	KindPartition             // a partition of a disk
	KindImage                 // a regular file used as a disk image
)

func (k Kind) String() string {
	return [...]string{"disk", "partition", "disk image"}[k]
}

// Device is a disk, partition or image file as found on the machine.
type Device struct {
	Arg        string // as the user named it
	Path       string // the path on this machine (under --root, links resolved)
	Name       string // kernel name (vda, vda1); "" for an image file
	Kind       Kind
	Size       int64
	SectorSize int64
	Model      string
	// For a partition: the disk it is on ("" when unknown) and its number.
	DiskName string
	DiskPath string
	Num      int
}

// Probe reads devices, mounts and sysfs under a root: "/" on a real
// system, a prepared directory in tests (where a regular file under dev/
// stands in for the device that sys/class/block under the same root names).
type Probe struct {
	Root string           // absolute
	FS   billy.Filesystem // rooted at Root, for /proc and /sys
}

// hostPath is where an absolute path of the target system is on this
// machine.
func (p Probe) hostPath(name string) string {
	if filepath.IsAbs(name) {
		return filepath.Join(p.Root, name)
	}
	if abs, err := filepath.Abs(name); err == nil {
		return abs
	}
	return name
}

// underDev tells whether a resolved path (EvalSymlinks of hostPath) is in
// the target's /dev. A disk image is a regular file the user names outside
// /dev; a regular file in /dev is never one.
func (p Probe) underDev(real string) bool {
	dev := filepath.Join(p.Root, "dev")
	if r, err := filepath.EvalSymlinks(dev); err == nil {
		dev = r
	}
	rel, err := filepath.Rel(dev, filepath.Clean(real))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// targetPath is a path of this machine as the target system names it.
func (p Probe) targetPath(real string) string {
	root := p.Root
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	if rel, err := filepath.Rel(root, real); err == nil && !strings.HasPrefix(rel, "..") {
		return "/" + rel
	}
	return real
}

// sysBlock is the sysfs directory of a block device, relative to the root.
func sysBlock(name string) string { return path.Join("sys/class/block", name) }

func (p Probe) exists(rel string) bool {
	_, err := p.FS.Stat(rel)
	return err == nil
}

func (p Probe) readSys(rel string) string {
	f, err := p.FS.Open(rel)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 4096))
	return strings.TrimSpace(string(b))
}

func (p Probe) readDir(rel string) []string {
	infos, err := p.FS.ReadDir(rel)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(infos))
	for _, fi := range infos {
		names = append(names, fi.Name())
	}
	sort.Strings(names)
	return names
}

// Device inspects DEVICE. A missing device, or something that is neither
// a block device nor a regular file, is bad input.
func (p Probe) Device(arg string) (Device, error) {
	d := Device{Arg: arg, SectorSize: 512}
	real, err := filepath.EvalSymlinks(p.hostPath(arg))
	if err != nil {
		if os.IsNotExist(err) {
			return d, errors.Errorf("device %s does not exist", arg)
		}
		return d, errors.Wrapf(err, "device %s", arg)
	}
	d.Path = real
	fi, err := os.Stat(real)
	if err != nil {
		return d, errors.Wrapf(err, "device %s", arg)
	}
	isBlock := fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0
	switch {
	case isBlock:
		d.Name = p.blockName(real, fi)
		if d.Name == "" {
			return d, errors.Errorf("device %s: no sysfs entry for it under %s", arg, filepath.Join(p.Root, "sys/class/block"))
		}
	case fi.Mode().IsRegular():
		if p.Root != "/" && p.exists(sysBlock(filepath.Base(real))) {
			d.Name = filepath.Base(real) // a test root's stand-in for a device
		} else if p.underDev(real) {
			return d, errors.Errorf("device %s is a regular file under /dev (%s), not a device: there is no such disk (a file there is what a write to a missing device leaves; remove it); a disk image must be a file outside /dev", arg, p.targetPath(real))
		}
	default:
		return d, errors.Errorf("device %s is neither a block device nor a disk image file", arg)
	}
	if d.Size, err = deviceSize(real); err != nil {
		return d, errors.Wrapf(err, "device %s: size", arg)
	}
	if d.Name == "" {
		d.Kind = KindImage
		d.Model = "disk image"
		return d, nil
	}
	sys := sysBlock(d.Name)
	disk := d.Name
	if n := p.readSys(path.Join(sys, "partition")); n != "" {
		d.Kind = KindPartition
		d.Num, _ = strconv.Atoi(n)
		d.DiskName = p.parentDisk(d.Name)
		if d.DiskName != "" {
			d.DiskPath = filepath.Join(filepath.Dir(real), d.DiskName)
			disk = d.DiskName
		}
	}
	if ss, err := strconv.ParseInt(p.readSys(path.Join(sysBlock(disk), "queue/logical_block_size")), 10, 64); err == nil && ss > 0 {
		d.SectorSize = ss
	}
	d.Model = p.model(disk)
	return d, nil
}

func (p Probe) model(disk string) string {
	sys := sysBlock(disk)
	return diskModel(disk, p.readSys(path.Join(sys, "device/vendor")), p.readSys(path.Join(sys, "device/model")))
}

// vendorIDs name the PCI vendor ids that sysfs gives as a disk's "vendor"
// (a virtio disk's device is the virtio device, whose vendor is its PCI
// vendor id).
var vendorIDs = map[string]string{
	"0x1af4": "virtio disk", // Red Hat / virtio
	"0x15ad": "VMware disk",
	"0x80ee": "VirtualBox disk",
}

// diskModel is what the disk list shows of a disk: sysfs's vendor and
// model when they are words ("ATA QEMU HARDDISK", an NVMe model), else what
// kind of disk it is ("virtio disk"), never a bare vendor id like 0x1af4.
func diskModel(name, vendor, model string) string {
	vendor, model = strings.TrimSpace(vendor), strings.TrimSpace(model)
	kind := vendorIDs[strings.ToLower(vendor)]
	if strings.HasPrefix(vendor, "0x") || strings.HasPrefix(vendor, "0X") {
		vendor = ""
	}
	if m := strings.TrimSpace(vendor + " " + model); m != "" {
		return m
	}
	if kind != "" {
		return kind
	}
	for _, k := range []struct{ prefix, kind string }{
		{"vd", "virtio disk"}, {"xvd", "Xen disk"}, {"nvme", "NVMe disk"},
		{"mmcblk", "SD/MMC card"}, {"sd", "SCSI/SATA disk"}, {"hd", "IDE disk"},
	} {
		if strings.HasPrefix(name, k.prefix) {
			return k.kind
		}
	}
	return ""
}

// blockName finds the kernel name of a block device node: its base name
// when sysfs knows it, else through /sys/dev/block/MAJOR:MINOR.
func (p Probe) blockName(real string, fi os.FileInfo) string {
	if base := filepath.Base(real); p.exists(sysBlock(base)) {
		return base
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return p.nameOfDevT(uint64(st.Rdev))
}

func (p Probe) nameOfDevT(dev uint64) string {
	majmin := fmt.Sprintf("%d:%d", unixMajor(dev), unixMinor(dev))
	link, err := p.FS.Readlink(path.Join("sys/dev/block", majmin))
	if err != nil {
		return ""
	}
	return path.Base(link)
}

func unixMajor(dev uint64) uint64 { return ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000) }
func unixMinor(dev uint64) uint64 { return (dev & 0xff) | ((dev >> 12) & 0xffffff00) }

// parentDisk is the disk that holds partition name: the sysfs directory
// that has it as a subdirectory.
func (p Probe) parentDisk(name string) string {
	for _, d := range p.readDir("sys/class/block") {
		if d != name && p.exists(path.Join(sysBlock(d), name, "partition")) {
			return d
		}
	}
	return ""
}

// Partitions lists the partition names of a disk.
func (p Probe) Partitions(disk string) []string {
	var parts []string
	for _, n := range p.readDir(sysBlock(disk)) {
		if p.exists(path.Join(sysBlock(disk), n, "partition")) {
			parts = append(parts, n)
		}
	}
	return parts
}

// deviceSize is the size of a block device or file in bytes.
func deviceSize(name string) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Seek(0, io.SeekEnd)
}

// Mount is one line of /proc/mounts.
type Mount struct {
	Source, Target, FSType string
}

// maxMountsBytes bounds /proc/mounts (a few KiB on a real system).
const maxMountsBytes = 16 << 20

// Mounts reads /proc/mounts under the root. Without it the installer
// cannot tell which disks the running system uses, so a missing, unreadable
// or empty /proc/mounts (every Linux system has at least / mounted) is an
// error, never "nothing is in use".
func (p Probe) Mounts() ([]Mount, error) {
	const how = "without it bos-install cannot tell which disks the running system uses (mount it: mount -t proc proc /proc)"
	f, err := p.FS.Open("proc/mounts")
	if err != nil {
		return nil, errors.Wrapf(exitcode.ErrBadInput, "read /proc/mounts: %v: %s", err, how)
	}
	defer f.Close()
	var ms []Mount
	sc := bufio.NewScanner(io.LimitReader(f, maxMountsBytes))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		ms = append(ms, Mount{Source: unescapeMount(fields[0]), Target: unescapeMount(fields[1]), FSType: fields[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, errors.Wrapf(exitcode.ErrBadInput, "read /proc/mounts: %v: %s", err, how)
	}
	if len(ms) == 0 {
		return nil, errors.Wrapf(exitcode.ErrBadInput, "/proc/mounts lists no mount: %s", how)
	}
	return ms, nil
}

// unescapeMount undoes the octal escapes of /proc/mounts (\040 for space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sourceName is the kernel name of a mount source ("" when it is not a
// device): /dev/vda1, /dev/disk/by-label/X and /dev/root all resolve.
func (p Probe) sourceName(m Mount) string {
	if !strings.HasPrefix(m.Source, "/dev/") {
		return ""
	}
	if m.Source == "/dev/root" {
		var st syscall.Stat_t
		if err := syscall.Stat(p.hostPath(m.Target), &st); err == nil {
			if n := p.nameOfDevT(uint64(st.Dev)); n != "" {
				return n
			}
		}
	}
	if real, err := filepath.EvalSymlinks(p.hostPath(m.Source)); err == nil {
		return filepath.Base(real)
	}
	return filepath.Base(m.Source)
}

// disksOf are the whole disks beneath a block device: a partition's disk,
// a device mapper's or RAID's members, a loop device's backing file's disk.
func (p Probe) disksOf(name string, depth int) []string {
	if depth > 8 || name == "" {
		return nil
	}
	sys := sysBlock(name)
	if p.exists(path.Join(sys, "partition")) {
		if d := p.parentDisk(name); d != "" {
			return []string{d}
		}
		return nil
	}
	if slaves := p.readDir(path.Join(sys, "slaves")); len(slaves) > 0 {
		var out []string
		for _, s := range slaves {
			out = append(out, p.disksOf(s, depth+1)...)
		}
		return out
	}
	if backing := p.readSys(path.Join(sys, "loop/backing_file")); backing != "" {
		var st syscall.Stat_t
		if err := syscall.Stat(p.hostPath(backing), &st); err == nil {
			return p.disksOf(p.nameOfDevT(uint64(st.Dev)), depth+1)
		}
		return nil
	}
	return []string{name}
}

// InUse maps each disk the running system uses (a mounted file system, swap,
// or a device stacked on it) to why.
func (p Probe) InUse() (map[string]string, error) {
	used := map[string]string{}
	ms, err := p.Mounts()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		for _, d := range p.disksOf(p.sourceName(m), 0) {
			if _, ok := used[d]; !ok {
				used[d] = fmt.Sprintf("%s is mounted at %s", m.Source, m.Target)
			}
		}
	}
	if f, err := p.FS.Open("proc/swaps"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) == 0 || !strings.HasPrefix(fields[0], "/dev/") {
				continue
			}
			for _, d := range p.disksOf(p.sourceName(Mount{Source: fields[0], Target: "/"}), 0) {
				if _, ok := used[d]; !ok {
					used[d] = fields[0] + " is used as swap"
				}
			}
		}
		f.Close()
	}
	return used, nil
}

// Holders lists devices stacked on a disk or its partitions (LVM, RAID,
// dm-crypt), which make it busy.
func (p Probe) Holders(name string) []string {
	var hs []string
	for _, h := range p.readDir(path.Join(sysBlock(name), "holders")) {
		hs = append(hs, h+" (on "+name+")")
	}
	for _, part := range p.Partitions(name) {
		for _, h := range p.readDir(path.Join(sysBlock(name), part, "holders")) {
			hs = append(hs, h+" (on "+part+")")
		}
	}
	return hs
}

// Disks lists the whole disks an install could go to, in name order:
// no loop, RAM, optical or stacked devices, none the running system uses.
func (p Probe) Disks() ([]Device, error) {
	used, err := p.InUse()
	if err != nil {
		return nil, err
	}
	devs, err := blockdev.List(iofs.New(p.FS), blockdev.Filter{
		Prefixes:   []string{"loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd", "mtdblock"},
		Partitions: true,
	})
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, d := range devs {
		if d.Sectors <= 0 || used[d.Name] != "" || len(p.Holders(d.Name)) > 0 {
			continue
		}
		out = append(out, Device{
			Arg: "/dev/" + d.Name, Path: filepath.Join(p.Root, "dev", d.Name), Name: d.Name, Kind: KindDisk,
			Size: d.Sectors * 512, SectorSize: 512, Model: p.model(d.Name),
		})
	}
	return out, nil
}

// ReadExtLabel reads the label of an ext2/3/4 file system; ok is false
// when r holds no ext file system.
func ReadExtLabel(r io.ReaderAt) (label string, ok bool) {
	fstype, label := blockdev.Identify(r)
	return label, fstype == blockdev.Ext4
}
