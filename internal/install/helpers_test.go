package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/execrun"
	"github.com/bhojpur/os/internal/fetch"
	"github.com/bhojpur/os/internal/layout"
)

// fakeRunner records each command and runs none, except that a command
// named in fail returns an error.
type fakeRunner struct {
	mu   sync.Mutex
	cmds []string
	fail map[string]error
}

func (r *fakeRunner) Run(_ context.Context, c execrun.Cmd) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, c.String())
	return nil, r.fail[c.Name]
}

// fakeSystem records kernel calls.
type fakeSystem struct{ calls []string }

func (s *fakeSystem) Sync() { s.calls = append(s.calls, "sync") }
func (s *fakeSystem) RereadPartitions(disk string, parts []string) error {
	s.calls = append(s.calls, "reread "+disk+" "+strings.Join(parts, " "))
	return nil
}
func (s *fakeSystem) Reboot() error   { s.calls = append(s.calls, "reboot"); return nil }
func (s *fakeSystem) PowerOff() error { s.calls = append(s.calls, "poweroff"); return nil }

type testLog struct{ t *testing.T }

func (l testLog) Printf(format string, args ...any) { l.t.Helper(); l.t.Logf(format, args...) }

// machine is a fake system root: sysfs and /proc describing disks whose
// device nodes are image files.
type machine struct {
	t    *testing.T
	root string
	run  *fakeRunner
	sys  *fakeSystem
	out  bytes.Buffer
	// secrets are the answers read through Installer.ReadSecret.
	secrets []string
}

func newMachine(t *testing.T) *machine {
	t.Helper()
	m := &machine{t: t, root: t.TempDir(), run: &fakeRunner{}, sys: &fakeSystem{}}
	m.write("proc/mounts", "proc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n")
	m.mkdir("usr/lib/grub/i386-pc")
	m.mkdir("usr/lib/grub/x86_64-efi")
	return m
}

func (m *machine) path(rel string) string { return filepath.Join(m.root, rel) }

func (m *machine) write(rel, content string) {
	m.t.Helper()
	writeTestFile(m.t, m.path(rel), content)
}

func (m *machine) mkdir(rel string) {
	m.t.Helper()
	if err := os.MkdirAll(m.path(rel), 0o755); err != nil {
		m.t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sparse creates an image file of size bytes with a recognisable pattern
// at the start, so that "untouched" is a meaningful check.
func sparse(t *testing.T, name string, size int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte("old data "), 4096), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("old end"), size-4096); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// disk adds a whole disk: an image file at dev/NAME and its sysfs entry.
func (m *machine) disk(name string, size int64, model string) string {
	m.t.Helper()
	sparse(m.t, m.path("dev/"+name), size)
	m.write("sys/class/block/"+name+"/size", fmt.Sprint(size/512))
	m.write("sys/class/block/"+name+"/queue/logical_block_size", "512")
	m.write("sys/class/block/"+name+"/device/model", model)
	return "/dev/" + name
}

// partition adds partition n of disk: an image file with an ext4
// superblock (magic and label) when ext is true.
func (m *machine) partition(disk string, n int, size int64, ext bool, label string) string {
	m.t.Helper()
	name := PartitionDevice(disk, n)
	img := m.path("dev/" + name)
	sparse(m.t, img, size)
	if ext {
		fakeExt4(m.t, img, label)
	}
	m.write("sys/class/block/"+name+"/partition", fmt.Sprint(n))
	m.write("sys/class/block/"+name+"/size", fmt.Sprint(size/512))
	m.write("sys/class/block/"+disk+"/"+name+"/partition", fmt.Sprint(n))
	return "/dev/" + name
}

// fakeExt4 writes an ext4 superblock's magic and label.
func fakeExt4(t *testing.T, img, label string) {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sb := make([]byte, 1024)
	binary.LittleEndian.PutUint16(sb[56:], 0xEF53) // the ext magic
	copy(sb[120:136], label)
	if _, err := f.WriteAt(sb, 1024); err != nil { // the superblock
		t.Fatal(err)
	}
}

// mounts sets /proc/mounts.
func (m *machine) mounts(lines ...string) {
	m.write("proc/mounts", strings.Join(lines, "\n")+"\n")
}

func (m *machine) installer() *Installer {
	return &Installer{
		Root: m.root, FS: osfs.New(m.root, osfs.WithBoundOS()),
		Run: m.run, Sys: m.sys, Log: testLog{m.t},
		Fetch:  &Fetcher{HTTP: &fetch.Fetcher{Retry: fetch.Retry{Attempts: 2, Base: time.Millisecond}, Log: testLog{m.t}.Printf}},
		Stdin:  strings.NewReader(""),
		Stdout: &m.out,
		Arch:   "amd64", TempDir: m.t.TempDir(),
	}
}

// systemTree writes a bos/system tree (what the ISO carries) under dir.
func systemTree(t *testing.T, dir string) {
	t.Helper()
	sys := filepath.Join(dir, layout.SystemDir)
	for name, content := range map[string]string{
		"bos/v1.0.0/rootfs.squashfs":   "squashfs of the root",
		"bos/v1.0.0/bos-install":       "#!elf",
		"kernel/6.1.0/vmlinuz":         "kernel",
		"kernel/6.1.0/initrd":          "initrd",
		"kernel/6.1.0/kernel.squashfs": "modules",
		"dcp/v1.29.0/dcp":              "dcp",
	} {
		writeTestFile(t, filepath.Join(sys, name), content)
	}
	for c, v := range map[string]string{"bos": "v1.0.0", "kernel": "6.1.0", "dcp": "v1.29.0"} {
		if err := os.Symlink(v, filepath.Join(sys, c, "current")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(sys, "bos/v1.0.0/bos-install"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// sha hashes a (sparse) image: every data extent with its offset, and the
// size. Reading the holes of a 20 GiB image would take minutes; a write
// anywhere makes or changes a data extent.
func sha(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "size %d\n", fi.Size())
	fd := int(f.Fd())
	for off := int64(0); off < fi.Size(); {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if err != nil {
			break // no more data (ENXIO)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "extent %d\n", data)
		if _, err := io.Copy(h, io.NewSectionReader(f, data, hole-data)); err != nil {
			t.Fatal(err)
		}
		off = hole
	}
	return hex.EncodeToString(h.Sum(nil))
}

func lookPath(name string) (string, error) { return exec.LookPath(name) }

func runOutput(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
