package blockdev

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// mkimage runs a mkfs-like tool to make a labelled image file.
func mkimage(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (make deps)", name)
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// blank is a file of size zero bytes.
func blank(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIdentifyRealImages(t *testing.T) {
	ext4 := blank(t, 16<<20)
	mkimage(t, "mkfs.ext4", "-q", "-F", "-L", "BOS_STATE", ext4)
	ext2 := blank(t, 4<<20)
	mkimage(t, "mkfs.ext2", "-q", "-F", ext2)
	fat32 := blank(t, 40<<20)
	mkimage(t, "mkfs.vfat", "-F", "32", "-n", "BOS_GRUB", fat32)
	fat16 := blank(t, 32<<20)
	mkimage(t, "mkfs.vfat", "-F", "16", "-n", "SMALL", fat16)
	fat12 := blank(t, 1440<<10)
	mkimage(t, "mkfs.vfat", "-F", "12", "-n", "cidata", fat12)
	nolabel := blank(t, 1440<<10)
	mkimage(t, "mkfs.vfat", "-F", "12", nolabel)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "x.iso")
	mkimage(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", "BOS", "-o", iso, src)
	sq := filepath.Join(t.TempDir(), "x.sq")
	mkimage(t, "mksquashfs", src, sq, "-quiet", "-no-progress")

	for _, tt := range []struct{ name, file, fstype, label string }{
		{"ext4", ext4, Ext4, "BOS_STATE"},
		{"ext2 without a label", ext2, Ext4, ""},
		{"fat32", fat32, VFAT, "BOS_GRUB"},
		{"fat16", fat16, VFAT, "SMALL"},
		{"fat12", fat12, VFAT, "cidata"},
		{"fat without a label", nolabel, VFAT, ""},
		{"iso", iso, ISO9660, "BOS"},
		{"squashfs", sq, Squashfs, ""},
		{"zeros", blank(t, 1<<20), "", ""},
	} {
		f, err := os.Open(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		fstype, label := Identify(f)
		f.Close()
		if fstype != tt.fstype || label != tt.label {
			t.Errorf("%s: Identify = %q, %q, want %q, %q", tt.name, fstype, label, tt.fstype, tt.label)
		}
	}
}

// An ISO's primary volume descriptor need not come first: a boot record
// before it is passed over; the set's terminator ends the search.
func TestIdentifyISODescriptors(t *testing.T) {
	img := make([]byte, 20*2048)
	vd := func(sector int, typ byte, id string) {
		b := img[sector*2048:]
		b[0] = typ
		copy(b[1:], "CD001")
		copy(b[40:72], fmt.Sprintf("%-32s", id))
	}
	vd(16, 0, "")
	vd(17, 1, "config-2")
	if fs, l := Identify(bytes.NewReader(img)); fs != ISO9660 || l != "config-2" {
		t.Errorf("boot record then primary: %q, %q", fs, l)
	}
	vd(17, 255, "")
	vd(18, 1, "LATE")
	if fs, l := Identify(bytes.NewReader(img)); fs != "" || l != "" {
		t.Errorf("primary after the terminator: %q, %q, want none", fs, l)
	}
}

// A boot sector with the signature but no FAT parameters (an MBR) is not
// FAT.
func TestIdentifyNotFAT(t *testing.T) {
	mbr := make([]byte, 4096)
	mbr[510], mbr[511] = 0x55, 0xAA
	if fs, l := Identify(bytes.NewReader(mbr)); fs != "" || l != "" {
		t.Errorf("Identify(MBR) = %q, %q", fs, l)
	}
}

func TestIdentifyShort(t *testing.T) {
	if fs, l := Identify(bytes.NewReader([]byte("short"))); fs != "" || l != "" {
		t.Errorf("Identify(short) = %q, %q", fs, l)
	}
}

func FuzzIdentify(f *testing.F) {
	f.Add(make([]byte, 4096))
	b := make([]byte, 40000)
	copy(b[32768:], "\x01CD001")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) { Identify(bytes.NewReader(b)) })
}

// machine is a root with sys/class/block entries: name -> size file
// content ("" for none), and which are partitions.
func machine(sizes map[string]string, partitions ...string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, size := range sizes {
		m[ClassDir+"/"+name+"/dev"] = &fstest.MapFile{Data: []byte("8:0\n")}
		if size != "" {
			m[ClassDir+"/"+name+"/size"] = &fstest.MapFile{Data: []byte(size + "\n")}
		}
	}
	for _, p := range partitions {
		m[ClassDir+"/"+p+"/partition"] = &fstest.MapFile{Data: []byte("1\n")}
	}
	return m
}

func TestList(t *testing.T) {
	root := machine(map[string]string{
		"vda": "2048", "vda1": "1024", "sr0": "0", "sr1": "600", "loop0": "8",
		"ram0": "8192", "zram0": "8192", "nvme0n1": "",
	}, "vda1")
	for _, tt := range []struct {
		name string
		f    Filter
		want string
	}{
		{"all", Filter{}, "[{loop0 8 false} {nvme0n1 -1 false} {ram0 8192 false} {sr0 0 false} {sr1 600 false} {vda 2048 false} {vda1 1024 true} {zram0 8192 false}]"},
		{"bos-init's", Filter{Prefixes: []string{"loop", "ram"}, Empty: true}, "[{nvme0n1 -1 false} {sr1 600 false} {vda 2048 false} {vda1 1024 true} {zram0 8192 false}]"},
		{"whole disks", Filter{Prefixes: []string{"loop", "ram", "zram", "sr"}, Partitions: true}, "[{nvme0n1 -1 false} {vda 2048 false}]"},
	} {
		devs, err := List(root, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(devs); got != tt.want {
			t.Errorf("%s: List = %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestListWithoutSysfs(t *testing.T) {
	devs, err := List(fstest.MapFS{}, Filter{})
	if err != nil || len(devs) != 0 {
		t.Errorf("List(no sysfs) = %v, %v; want none", devs, err)
	}
	// A root that is a file cannot be listed: an error, not "no devices".
	if _, err := List(fstest.MapFS{ClassDir: &fstest.MapFile{Data: []byte("x")}}, Filter{}); err == nil {
		t.Error("List of a sys/class/block that is a file gave no error")
	}
}

// The running machine's sysfs, when there is one: every device listed has
// a name, and a whole-disk filter leaves no partition.
func TestListRealSysfs(t *testing.T) {
	if _, err := os.Stat("/sys/class/block"); err != nil {
		t.Skip("no /sys/class/block")
	}
	devs, err := List(os.DirFS("/"), Filter{Partitions: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name == "" || d.Partition {
			t.Errorf("listed %+v", d)
		}
	}
}
