package bosinstall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bhojpur/os/internal/exitcode"
)

// installRoot is a machine root for bos-install --dry-run: a 4 GiB disk
// image standing in for /dev/vda (with its sysfs entry), the mounts of a
// live system, a bos/system tree to install, and the given kernel cmdline
// and userdata.
func installRoot(t *testing.T, cmdline, userdata string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/mounts":                        "proc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n",
		"proc/cmdline":                       cmdline + "\n",
		"sys/class/block/vda/size":           "8388608",
		"bos/system/bos/v1/rootfs.squashfs":  "root",
		"bos/system/kernel/6.1/vmlinuz":      "kernel",
		"bos/system/kernel/6.1/initrd":       "initrd",
		"usr/lib/grub/i386-pc/modinfo.sh":    "",
		"usr/lib/grub/x86_64-efi/modinfo.sh": "",
	}
	if userdata != "" {
		files["run/config/userdata"] = userdata
	}
	writeTree(t, root, files)
	for c, v := range map[string]string{"bos": "v1", "kernel": "6.1"} {
		if err := os.Symlink(v, filepath.Join(root, "bos/system", c, "current")); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(filepath.Join(root, "dev/vda"))
	if err != nil {
		if err = os.MkdirAll(filepath.Join(root, "dev"), 0o755); err == nil {
			f, err = os.Create(filepath.Join(root, "dev/vda"))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return root
}

// TestInstallRefusesARefusedTTY: a bos.install value that the config loader
// refuses is not silently replaced by the default; the install stops with
// exit 3 before it plans anything, unless the flag gives the value. A --tty
// that is not a console name is refused the same way.
func TestInstallRefusesARefusedTTY(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline, userdata string
		args                    []string
		code                    int
		want, notWant           string
	}{
		{"tty with a kernel argument on the cmdline", `bos.install.tty="ttyS0,115200 init=/bin/sh"`, "", nil,
			exitcode.BadInput, "proc/cmdline:1:1: bos.install.tty:", "init=/bin/sh"},
		{"tty with a kernel argument in userdata", "", "bos:\n  install:\n    tty: \"ttyS0 init=/bin/sh\"\n", nil,
			exitcode.BadInput, "userdata:3:10: bos.install.tty:", "init=/bin/sh"},
		{"tty with a GRUB command on the command line", "", "", []string{"--tty", "ttyS1\nset root=evil"},
			exitcode.BadInput, "is not a console TTY", "set root=evil\n"},
		{"tty with a kernel argument on the command line", "", "", []string{"--tty", "ttyS0 init=/bin/sh"},
			exitcode.BadInput, "is not a console TTY", "linux"},
		{"a refused cmdline tty with --tty given", `bos.install.tty="ttyS0 init=/bin/sh"`, "", []string{"--tty", "ttyS1"},
			0, "console=ttyS1,115200", "init=/bin/sh"},
		{"a good cmdline tty", "bos.install.tty=ttyS1,9600", "", nil, 0, "console=ttyS1,9600", "console=tty0"},
		{"auto is the default consoles", "bos.install.tty=auto", "", nil, 0, "console=tty0 console=ttyS0,115200", "console=auto"},
		{"a refused device", "bos.install.device=vda", "", nil, exitcode.BadInput, "bos.install.device:", "linux"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := installRoot(t, tc.cmdline, tc.userdata)
			args := append([]string{"--root", root, "--silent", "--dry-run"}, tc.args...)
			if !strings.Contains(tc.cmdline, "bos.install.device") {
				args = append(args, "/dev/vda")
			}
			code, out, errs := run(t, "bos-install", args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) || strings.Contains(out, tc.notWant) {
				t.Errorf("bos-install %q = exit %d, stdout %q, stderr %q; want exit %d, %q and no %q", args, code, out, errs, tc.code, tc.want, tc.notWant)
			}
			if tc.code != 0 && out != "" {
				t.Errorf("refused, but printed a plan: %q", out)
			}
		})
	}
}
