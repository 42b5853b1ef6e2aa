package boot

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/kmod"
	"github.com/bhojpur/os/internal/power"
)

// LinuxSys is the real Sys of the initrd.
type LinuxSys struct {
	Console string // device of the rescue shell's terminal, e.g. /dev/ttyS0
	Env     []string
}

// Mount is mount(2).
func (LinuxSys) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// LoadModule is finit_module(2) (kmod.Finit); an already loaded module
// is not an error.
func (LinuxSys) LoadModule(path, params string) error { return kmod.Finit(path, params) }

// AttachLoop binds file to a free loop device, read-only and detached
// automatically when its last user goes. The device stays open until
// release, so that it is still bound when the caller mounts it.
func (LinuxSys) AttachLoop(file string) (string, func(), error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	defer ctl.Close()
	backing, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer backing.Close()
	for try := 0; try < 8; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, errors.Wrap(err, "LOOP_CTL_GET_FREE")
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		var lf *os.File
		for i := 0; i < 50; i++ { // devtmpfs may need a moment for the node
			if lf, err = os.OpenFile(dev, os.O_RDONLY, 0); err == nil || !os.IsNotExist(err) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			return "", nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], file)
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		if err == unix.EBUSY { // taken between GET_FREE and CONFIGURE
			lf.Close()
			continue
		}
		if err != nil {
			lf.Close()
			return "", nil, errors.Wrapf(err, "LOOP_CONFIGURE %s", dev)
		}
		return dev, func() { lf.Close() }, nil
	}
	return "", nil, errors.New("no free loop device")
}

// Run runs a program with its output to out.
func (s LinuxSys) Run(ctx context.Context, out io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = out, out, s.Env
	return cmd.Run()
}

// Shell runs busybox sh on the console as a session leader with the
// console as its controlling terminal, so that job control and Ctrl-C work.
func (s LinuxSys) Shell(ctx context.Context) error {
	_ = exec.Command("/bin/busybox", "--install", "-s", "/bin").Run()
	tty, err := os.OpenFile(s.Console, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer tty.Close()
	cmd := exec.CommandContext(ctx, "/bin/sh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = append(s.Env, "PS1=(bos rescue) \\w # ", "ENV=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return cmd.Run()
}

// PowerOff syncs and powers the machine off.
func (s LinuxSys) PowerOff() error { return power.Off() }

// Reboot syncs and restarts the machine.
func (s LinuxSys) Reboot() error { return power.Reboot() }

// SwitchRoot moves the kernel file systems into newRoot, deletes the
// initramfs's files (its memory is otherwise lost for good), makes newRoot
// the root and execs init.
func (s LinuxSys) SwitchRoot(newRoot, init string) error {
	for _, m := range []string{"/dev", "/proc", "/sys", "/run"} {
		if err := os.MkdirAll(newRoot+m, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m, newRoot+m, "", unix.MS_MOVE, ""); err != nil {
			return errors.Wrapf(err, "move %s to %s", m, newRoot+m)
		}
	}
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err == nil {
		freeInitramfs("/", root.Dev)
	}
	if err := unix.Mount(newRoot, "/", "", unix.MS_MOVE, ""); err != nil {
		return errors.Wrapf(err, "move %s to /", newRoot)
	}
	if err := unix.Chroot("."); err != nil {
		return errors.Wrap(err, "chroot")
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return errors.Wrapf(unix.Exec(init, []string{init}, s.Env), "exec %s", init)
}

// freeInitramfs removes everything under dir that lives on the initramfs
// (device dev), leaving mount points of other file systems alone.
func freeInitramfs(dir string, dev uint64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			freeInitramfs(p, dev)
			_ = unix.Rmdir(p)
			continue
		}
		_ = unix.Unlink(p)
	}
}

// ConsoleDevice is the terminal behind /dev/console: the last console= of
// the cmdline, as /sys/class/tty/console/active lists it last.
func ConsoleDevice(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "sys/class/tty/console/active"))
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			name := f[len(f)-1]
			if name == "tty0" {
				name = "tty1"
			}
			return "/dev/" + name
		}
	}
	return "/dev/console"
}
