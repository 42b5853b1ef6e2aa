package kmod

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
)

func TestIndex(t *testing.T) {
	ix := NewIndex("/m")
	ix.ParseBuiltin(strings.NewReader("kernel/lib/crc16.ko\n"))
	ix.ParseDep(strings.NewReader(`kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/usb/storage/usb-storage.ko:
`))
	ix.ParseAlias(strings.NewReader(`# comment
alias virtio:d00000002v* virtio_blk
alias usb:v*p*d*dc*dsc*dp*ic08isc06ip50in* usb_storage
alias pci:v00008086d00007010sv*sd*bc*sc*i* ata_piix
alias pci:v*d*sv*sd*bc01sc01i* ata_generic
alias pci:v00008086d0000701?sv*sd*bc*sc*i* piix_family
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
`))
	for _, tt := range []struct {
		mod  string
		want string
	}{
		{"ext4", "[mbcache jbd2 ext4]"},
		{"virtio-blk", "[virtio_ring virtio virtio_blk]"},
		{"usb-storage", "[usb_storage]"},
	} {
		got, err := ix.Order(tt.mod)
		if err != nil || fmt.Sprint(got) != tt.want {
			t.Errorf("order(%s) = %v, %v; want %s", tt.mod, got, err, tt.want)
		}
	}
	if _, err := ix.Order("nosuch"); err == nil {
		t.Errorf("order(nosuch) gave no error")
	}
	if got := ix.Lookup("virtio:d00000002v00001AF4"); fmt.Sprint(got) != "[virtio_blk]" {
		t.Errorf("lookup(virtio blk) = %v", got)
	}
	if got := ix.Lookup("usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00"); fmt.Sprint(got) != "[usb_storage]" {
		t.Errorf("lookup(usb storage) = %v", got)
	}
	// Vendor-specific and generic patterns of a bus, in the file's order.
	if got := ix.Lookup("pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80"); fmt.Sprint(got) != "[ata_piix ata_generic piix_family]" {
		t.Errorf("lookup(PIIX IDE) = %v", got)
	}
	if got := ix.Lookup("pci:v00008086d00001237sv*"); len(got) != 0 {
		t.Errorf("lookup(host bridge) = %v, want none", got)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"virtio-blk":                            "virtio_blk",
		"kernel/drivers/block/virtio_blk.ko":    "virtio_blk",
		"kernel/drivers/block/virtio_blk.ko.xz": "virtio_blk",
		"/m/kernel/fs/ext4/ext4.ko.zst":         "ext4",
		"usb-storage.ko.gz":                     "usb_storage",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

// writeTree lays out a modules directory under a temp dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type insert struct{ file, params string }

// recorder is a Loader whose Insert records what it was asked, failing
// for the modules in fail.
func recorder(ix *Index, fail ...string) (*Loader, *[]insert, *[]string) {
	var ins []insert
	var logged []string
	l := &Loader{Index: ix,
		Insert: func(file, params string) error {
			ins = append(ins, insert{strings.TrimPrefix(file, ix.Dir+"/"), params})
			for _, f := range fail {
				if Name(file) == f {
					return errors.New("no such device")
				}
			}
			return nil
		},
		Log: func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) },
	}
	return l, &ins, &logged
}

func TestLoader(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"modules.dep":     "kernel/ext4.ko.xz: kernel/jbd2.ko kernel/mbcache.ko kernel/crc16.ko\nkernel/jbd2.ko:\nkernel/mbcache.ko:\nkernel/softdog.ko:\nkernel/bad.ko: kernel/jbd2.ko\n",
		"modules.builtin": "kernel/lib/crc16.ko\n",
		"modules.alias":   "alias platform:softdog softdog\n",
	})
	ix, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, ins, logged := recorder(ix, "bad")
	if ok, err := l.Load("ext4", "nojournal"); !ok || err != nil {
		t.Fatalf("Load(ext4) = %v, %v", ok, err)
	}
	// Dependencies first, in modules.dep's order; the parameters are the
	// named module's; a built-in module is not loaded.
	want := []insert{{"kernel/jbd2.ko", ""}, {"kernel/mbcache.ko", ""}, {"kernel/ext4.ko.xz", "nojournal"}}
	if fmt.Sprint(*ins) != fmt.Sprint(want) {
		t.Errorf("inserted %v, want %v", *ins, want)
	}
	if fmt.Sprint(*logged) != "[loaded module jbd2 loaded module mbcache loaded module ext4]" {
		t.Errorf("logged %q", *logged)
	}
	// Once each: nothing new the second time.
	if ok, err := l.Load("ext4", ""); ok || err != nil || len(*ins) != 3 {
		t.Errorf("Load(ext4) again = %v, %v, inserted %v", ok, err, *ins)
	}
	// A failure names the module, and it is not tried again.
	if _, err := l.Load("bad", ""); err == nil || !strings.Contains(err.Error(), "load module bad: no such device") {
		t.Errorf("Load(bad) = %v", err)
	}
	if !l.Tried("bad") || l.Tried("softdog") {
		t.Errorf("Tried(bad) = %v, Tried(softdog) = %v", l.Tried("bad"), l.Tried("softdog"))
	}
	if ok, _ := l.Load("bad", ""); ok || len(*ins) != 4 {
		t.Errorf("bad was tried again: %v", *ins)
	}
	if _, err := l.Load("nosuch", ""); err == nil {
		t.Error("Load(nosuch) gave no error")
	}
	if got := ix.Lookup("platform:softdog"); fmt.Sprint(got) != "[softdog]" {
		t.Errorf("Lookup(platform:softdog) = %v", got)
	}
}

func TestOpenNeedsModulesDep(t *testing.T) {
	if _, err := Open(t.TempDir()); err == nil {
		t.Error("Open of a directory without modules.dep gave no error")
	}
	// Only modules.dep: no aliases, nothing built in.
	ix, err := Open(writeTree(t, map[string]string{"modules.dep": "kernel/loop.ko:\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ix.Order("loop"); err != nil || fmt.Sprint(got) != "[loop]" {
		t.Errorf("Order(loop) = %v, %v", got, err)
	}
}

func TestDir(t *testing.T) {
	root := writeTree(t, map[string]string{
		"lib/modules/6.1.0-a/modules.dep":     "",
		"usr/lib/modules/6.1.0-b/modules.dep": "",
	})
	for kver, want := range map[string]string{
		"6.1.0-a": root + "/lib/modules/6.1.0-a",
		"6.1.0-b": root + "/usr/lib/modules/6.1.0-b", // merged /usr only
		"6.1.0-c": root + "/lib/modules/6.1.0-c",     // neither: the first, for Open to name
	} {
		if got, err := Dir(root, kver); err != nil || got != want {
			t.Errorf("Dir(%s) = %q, %v; want %q", kver, got, err, want)
		}
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	if got, _ := Dir("/r", ""); got != "/r/lib/modules/"+unix.ByteSliceToString(u.Release[:]) {
		t.Errorf("Dir(/r, \"\") = %q, want the running kernel's", got)
	}
}

func TestFinitFlags(t *testing.T) {
	for file, want := range map[string]int{
		"ext4.ko":     0,
		"ext4.ko.xz":  unix.MODULE_INIT_COMPRESSED_FILE,
		"ext4.ko.zst": unix.MODULE_INIT_COMPRESSED_FILE,
		"ext4.ko.gz":  unix.MODULE_INIT_COMPRESSED_FILE,
	} {
		if got := finitFlags(file); got != want {
			t.Errorf("finitFlags(%s) = %d, want %d", file, got, want)
		}
	}
	if err := Finit(filepath.Join(t.TempDir(), "missing.ko"), ""); !os.IsNotExist(err) {
		t.Errorf("Finit(missing) = %v, want not exist", err)
	}
}
