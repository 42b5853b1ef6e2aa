package datasource

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/go-git/go-billy/v5"
	billyfs "github.com/go-git/go-billy/v5/helper/iofs"
	"github.com/pkg/errors"
	"gopkg.in/yaml.v3"

	"github.com/bhojpur/os/internal/blockdev"
	"github.com/bhojpur/os/internal/userdata"
)

// The cdrom source reads a config drive (label config-2: OpenStack layout,
// openstack/latest/meta_data.json and user_data) or a NoCloud volume
// (label cidata: user-data and meta-data) from a block device, ISO9660 or
// FAT, without mounting it: the label is read from the superblock and the
// files through go-diskfs's readers (Rock Ridge and Joliet names included).

// Devices lists and opens the block devices the cdrom source looks at.
// Production uses BlockDevices; tests give image files.
type Devices interface {
	// List names the candidate devices, best first.
	List() ([]string, error)
	// Open opens one for reading and says its size in bytes.
	Open(name string) (Device, int64, error)
}

// Device is an open block device or image.
type Device interface {
	io.ReaderAt
	io.Closer
}

// BlockDevices are the block devices of a root: the names in
// sys/class/block, opened as dev/NAME, both under FS. Optical drives (sr*)
// come first.
type BlockDevices struct {
	FS billy.Filesystem
}

// List names the block devices of sys/class/block, RAM disks (ram, zram)
// left out, optical drives (sr*) first, then by name.
func (b BlockDevices) List() ([]string, error) {
	devs, err := blockdev.List(billyfs.New(b.FS), blockdev.Filter{Prefixes: []string{"ram", "zram"}})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(devs))
	for _, d := range devs {
		names = append(names, d.Name)
	}
	sort.SliceStable(names, func(i, j int) bool {
		return strings.HasPrefix(names[i], "sr") && !strings.HasPrefix(names[j], "sr")
	})
	return names, nil
}

// Open opens dev/NAME read-only.
func (b BlockDevices) Open(name string) (Device, int64, error) {
	if strings.ContainsAny(name, "/\\") || name == ".." || name == "." {
		return nil, 0, errors.Errorf("bad device name %q", name)
	}
	p := path.Join("dev", name)
	f, err := b.FS.Open(p)
	if err != nil {
		return nil, 0, errors.Wrapf(err, "open %s", p)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		_ = f.Close()
		return nil, 0, errors.Wrapf(err, "size of %s", p)
	}
	return f, size, nil
}

// Volume kinds, from the label.
const (
	labelConfigDrive = "config-2"
	labelNoCloud     = "cidata"
)

type cdromProvider struct {
	devs Devices
	o    Options
}

func newCDROM(o Options) Provider {
	return &cdromProvider{devs: o.Devices, o: o}
}

func (p *cdromProvider) Name() string { return "cdrom" }

func (p *cdromProvider) Fetch(ctx context.Context) (*Data, error) {
	if p.devs == nil {
		return nil, errors.Wrap(ErrUnavailable, "no block devices to look at")
	}
	names, err := p.devs.List()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, &boundError{what: "cdrom: no volume found within the probe's time bound"}
		}
		d, err := p.tryDevice(n)
		if errors.Is(err, ErrUnavailable) {
			continue
		}
		return d, err
	}
	return nil, errors.Wrapf(ErrUnavailable, "no volume labelled %s or %s among %d block devices", labelConfigDrive, labelNoCloud, len(names))
}

func (p *cdromProvider) tryDevice(name string) (*Data, error) {
	dev, size, err := p.devs.Open(name)
	if err != nil {
		return nil, errors.Wrapf(ErrUnavailable, "%v", err) // empty drives, vanished devices
	}
	defer dev.Close()
	fstype, label, err := sniffLabel(dev)
	if err != nil {
		return nil, errors.Wrapf(ErrUnavailable, "%s: %v", name, err)
	}
	kind := strings.ToLower(label)
	if kind != labelConfigDrive && kind != labelNoCloud {
		return nil, errors.Wrapf(ErrUnavailable, "%s: label %q", name, label)
	}
	p.o.Log.Printf("datasource: cdrom: %s is %s labelled %s", name, fstype, label)
	d, err := readVolume(dev, size, fstype, kind, p.o.MaxUserData)
	if err != nil {
		return nil, errors.Wrapf(err, "cdrom: %s (%s, label %s)", name, fstype, label)
	}
	return d, nil
}

// readVolume reads the data off a labelled volume. A corrupt or hostile
// image must not take the boot down: a panic in the file-system readers
// becomes an error.
func readVolume(dev io.ReaderAt, size int64, fstype, kind string, max int64) (d *Data, err error) {
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, errors.Errorf("corrupt %s file system (reader panicked: %v)", fstype, r)
		}
	}()
	if size > maxVolume {
		return nil, errors.Errorf("volume of %d bytes is larger than a config volume can be (%d)", size, maxVolume)
	}
	// go-diskfs sizes buffers from on-disk fields: check the ones it reads
	// first against the volume's size, so that a corrupt superblock is an
	// error rather than a huge allocation.
	if fstype == blockdev.ISO9660 {
		err = checkISO(dev, size)
	} else {
		err = checkFAT(dev, size)
	}
	if err != nil {
		return nil, errors.Wrap(err, "corrupt file system")
	}
	fsys, err := openFS(dev, size, fstype)
	if err != nil {
		return nil, err
	}
	if kind == labelConfigDrive {
		return readConfigDrive(fsys, max)
	}
	return readNoCloud(fsys, max)
}

// sniffLabel reads the file-system type and label from the superblock
// (blockdev.Identify): the ISO9660 primary volume descriptor's volume id,
// or a FAT boot sector's volume label. Any other file system is an error.
func sniffLabel(r io.ReaderAt) (fstype, label string, err error) {
	fstype, label = blockdev.Identify(r)
	if fstype != blockdev.ISO9660 && fstype != blockdev.VFAT {
		return "", "", errors.New("neither ISO9660 nor FAT")
	}
	return fstype, label, nil
}

// maxVolume bounds the size of a config drive or NoCloud volume we read
// (OpenStack's FAT config drive is 64 MiB).
const maxVolume = 128 << 20

// checkISO checks the primary and supplementary volume descriptors: 2048-byte
// blocks, path tables and root directories inside the volume.
func checkISO(r io.ReaderAt, size int64) error {
	le32 := func(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b)) }
	for i := int64(16); i < 48; i++ {
		vd := make([]byte, 2048)
		if _, err := r.ReadAt(vd, i*2048); err != nil {
			return errors.Wrapf(err, "volume descriptor %d", i-16)
		}
		if string(vd[1:6]) != "CD001" {
			return errors.Errorf("volume descriptor %d has no CD001 mark", i-16)
		}
		switch vd[0] {
		case 255:
			return nil
		case 1, 2:
		default:
			continue
		}
		if bs := binary.LittleEndian.Uint16(vd[128:130]); bs != 2048 {
			return errors.Errorf("logical block size %d, not 2048", bs)
		}
		ptSize, ptL, ptM := le32(vd[132:136]), le32(vd[140:144]), int64(binary.BigEndian.Uint32(vd[148:152]))
		rootExtent, rootLen := le32(vd[156+2:156+6]), le32(vd[156+10:156+14])
		if ptSize > size || ptL*2048+ptSize > size || ptM*2048+ptSize > size {
			return errors.New("path table outside the volume")
		}
		if rootLen > size || rootExtent*2048+rootLen > size {
			return errors.New("root directory outside the volume")
		}
	}
	return errors.New("no volume descriptor set terminator")
}

// checkFAT checks the BIOS parameter block: sizes that fit the volume.
func checkFAT(r io.ReaderAt, size int64) error {
	bs := make([]byte, 512)
	if _, err := r.ReadAt(bs, 0); err != nil {
		return errors.Wrap(err, "boot sector")
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:13]))
	spc := int64(bs[13])
	reserved := int64(binary.LittleEndian.Uint16(bs[14:16]))
	fats := int64(bs[16])
	rootEntries := int64(binary.LittleEndian.Uint16(bs[17:19]))
	total := int64(binary.LittleEndian.Uint16(bs[19:21]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(bs[32:36]))
	}
	spf := int64(binary.LittleEndian.Uint16(bs[22:24]))
	if spf == 0 {
		spf = int64(binary.LittleEndian.Uint32(bs[36:40]))
	}
	switch {
	case bps != 512 && bps != 1024 && bps != 2048 && bps != 4096:
		return errors.Errorf("%d bytes per sector", bps)
	case spc == 0 || spc&(spc-1) != 0:
		return errors.Errorf("%d sectors per cluster", spc)
	case reserved == 0 || fats == 0 || fats > 4 || spf == 0:
		return errors.New("bad reserved sectors, FAT count or FAT size")
	case total*bps > size:
		return errors.Errorf("%d sectors of %d bytes do not fit in %d bytes", total, bps, size)
	case (reserved+fats*spf)*bps+rootEntries*32 > size:
		return errors.New("FATs and root directory outside the volume")
	}
	return nil
}

// readerStorage adapts an io.ReaderAt to go-diskfs's read-only backend.
type readerStorage struct {
	r    io.ReaderAt
	size int64
	off  int64
}

var _ backend.Storage = (*readerStorage)(nil)

func (s *readerStorage) Stat() (iofs.FileInfo, error) { return storageInfo{s.size}, nil }
func (s *readerStorage) Close() error                 { return nil }
func (s *readerStorage) ReadAt(p []byte, off int64) (int, error) {
	return s.r.ReadAt(p, off)
}
func (s *readerStorage) Read(p []byte) (int, error) {
	n, err := s.r.ReadAt(p, s.off)
	s.off += int64(n)
	return n, err
}
func (s *readerStorage) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	default:
		return 0, errors.New("bad whence")
	}
	if offset < 0 {
		return 0, errors.New("negative offset")
	}
	s.off = offset
	return offset, nil
}
func (s *readerStorage) Sys() (*os.File, error) { return nil, backend.ErrNotSuitable }
func (s *readerStorage) Writable() (backend.WritableFile, error) {
	return nil, backend.ErrIncorrectOpenMode
}
func (s *readerStorage) Path() string { return "" }

type storageInfo struct{ size int64 }

func (i storageInfo) Name() string        { return "device" }
func (i storageInfo) Size() int64         { return i.size }
func (i storageInfo) Mode() iofs.FileMode { return 0o400 }
func (i storageInfo) ModTime() time.Time  { return time.Time{} }
func (i storageInfo) IsDir() bool         { return false }
func (i storageInfo) Sys() any            { return nil }

// openFS reads the file system on dev with go-diskfs.
func openFS(dev io.ReaderAt, size int64, fstype string) (iofs.FS, error) {
	st := &readerStorage{r: dev, size: size}
	if fstype == blockdev.ISO9660 {
		fsys, err := iso9660.Read(st, size, 0, 2048)
		if err != nil {
			return nil, errors.Wrap(err, "read ISO9660")
		}
		return fsys, nil
	}
	var errs []string
	if fsys, err := fat32.Read(st, size, 0, 512); err == nil {
		return fsys, nil
	} else {
		errs = append(errs, "FAT32: "+err.Error())
	}
	if fsys, err := fat16.Read(st, size, 0, 512); err == nil {
		return fsys, nil
	} else {
		errs = append(errs, "FAT16: "+err.Error())
	}
	if fsys, err := fat12.Read(st, size, 0, 512); err == nil {
		return fsys, nil
	} else {
		errs = append(errs, "FAT12: "+err.Error())
	}
	return nil, errors.Errorf("read FAT: %s", strings.Join(errs, "; "))
}

// readFile reads name from fsys, matching each path element without
// regard to case and to ISO9660's plain-name mangling (USER_DAT.;1 for
// user-data), at most max bytes; a missing file gives (nil, nil).
func readFile(fsys iofs.FS, name string, max int64) ([]byte, error) {
	dir := "."
	parts := strings.Split(name, "/")
	for i, want := range parts {
		entries, err := iofs.ReadDir(fsys, dir)
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil, nil
			}
			return nil, errors.Wrapf(err, "list %s", dir)
		}
		found := ""
		for _, e := range entries {
			if nameMatches(e.Name(), want) {
				found = e.Name()
				if e.Name() == want {
					break
				}
			}
		}
		if found == "" {
			return nil, nil
		}
		dir = path.Join(dir, found)
		if i == len(parts)-1 {
			f, err := fsys.Open(dir)
			if err != nil {
				return nil, errors.Wrapf(err, "open %s", dir)
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, max+1))
			if err != nil {
				return nil, errors.Wrapf(err, "read %s", dir)
			}
			if int64(len(b)) > max {
				return nil, errors.Wrapf(errTooLarge, "%s is over %d bytes", name, max)
			}
			return b, nil
		}
	}
	return nil, nil
}

// nameMatches compares a directory entry with a wanted name, ignoring case,
// a ";1" version suffix, a trailing dot, and ISO9660 level-1 mangling
// (d-characters only, '-' as '_', 8.3 truncation).
func nameMatches(got, want string) bool {
	g := strings.ToLower(got)
	if i := strings.IndexByte(g, ';'); i >= 0 {
		g = g[:i]
	}
	g = strings.TrimSuffix(g, ".")
	w := strings.ToLower(want)
	if g == w {
		return true
	}
	mangled := strings.NewReplacer("-", "_").Replace(w)
	if g == mangled {
		return true
	}
	base, ext, _ := strings.Cut(mangled, ".")
	if len(base) > 8 {
		base = base[:8]
	}
	if len(ext) > 3 {
		ext = ext[:3]
	}
	short := base
	if ext != "" {
		short += "." + ext
	}
	return g == short
}

// readConfigDrive reads an OpenStack config drive.
func readConfigDrive(fsys iofs.FS, max int64) (*Data, error) {
	meta, err := readFile(fsys, "openstack/latest/meta_data.json", maxMetadata)
	if err != nil {
		return nil, err
	}
	d := &Data{}
	if meta != nil {
		if d, err = parseOpenStackMeta(meta); err != nil {
			return nil, errors.Wrap(err, "openstack/latest/meta_data.json")
		}
	}
	if d.UserData, err = readFile(fsys, "openstack/latest/user_data", max); err != nil {
		return nil, err
	}
	return d, nil
}

// readNoCloud reads a NoCloud volume: user-data, and meta-data (YAML with
// local-hostname and public-keys: one key, a list, or a map of them).
func readNoCloud(fsys iofs.FS, max int64) (*Data, error) {
	d := &Data{}
	meta, err := readFile(fsys, "meta-data", maxMetadata)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(meta)) > 0 {
		if err := parseNoCloudMeta(meta, d); err != nil {
			return nil, err
		}
	}
	if d.UserData, err = readFile(fsys, "user-data", max); err != nil {
		return nil, err
	}
	return d, nil
}

func parseNoCloudMeta(b []byte, d *Data) error {
	var m struct {
		LocalHostname string    `yaml:"local-hostname"`
		Hostname      string    `yaml:"hostname"`
		PublicKeys    yaml.Node `yaml:"public-keys"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		if l := userdata.YAMLErrorLine(err.Error()); l != nil {
			return errors.Errorf("meta-data: YAML error at line %s", l[1])
		}
		return errors.New("meta-data: not YAML")
	}
	d.Hostname = m.LocalHostname
	if d.Hostname == "" {
		d.Hostname = m.Hostname
	}
	d.SSHKeys = append(d.SSHKeys, scalars(&m.PublicKeys)...)
	return nil
}

// scalars collects the string values of a node: a scalar, a list, or a
// map's values, nested.
func scalars(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return nil
		}
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			out = append(out, scalars(c)...)
		}
		return out
	case yaml.MappingNode:
		var out []string
		for i := 1; i < len(n.Content); i += 2 {
			out = append(out, scalars(n.Content[i])...)
		}
		return out
	}
	return nil
}
