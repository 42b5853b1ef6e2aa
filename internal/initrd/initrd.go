// Package initrd is bos-init as PID 1 of the initrd: the boot of package
// boot with the initrd config phase of package apply. It imports neither
// the other commands nor their command lines, so that cmd/bos-initrd, the
// initrd's /init, leaves out what only the running system needs: less for
// GRUB to read and for the kernel to unpack at every boot. The multi-call
// binary boots through it too.
package initrd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/pkg/errors"
	"golang.org/x/sys/unix"

	"github.com/bhojpur/os/internal/apply"
	"github.com/bhojpur/os/internal/boot"
	"github.com/bhojpur/os/internal/config"
	"github.com/bhojpur/os/internal/logger"
	"github.com/bhojpur/os/internal/version"
)

// PID1 boots; it never returns.
func PID1() {
	boot.PID1(Phase)
}

// Phase applies the initrd config phase to the assembled root before
// switch_root. The root's files are written under root; sysctls, modules,
// the hostname and init_cmd act on the running kernel for real. /proc is
// bound under the root for the phase (sysctls, the cmdline source) and
// detached after it, since switch_root moves the initrd's /proc there.
func Phase(ctx context.Context, root string) error {
	procDir := filepath.Join(root, "proc")
	if err := os.MkdirAll(procDir, 0o555); err != nil {
		return errors.Wrapf(err, "create %s", procDir)
	}
	if err := unix.Mount("/proc", procDir, "", unix.MS_BIND, ""); err != nil {
		return errors.Wrapf(err, "bind /proc on %s", procDir)
	}
	defer func() { _ = unix.Unmount(procDir, unix.MNT_DETACH) }()
	fs := osfs.New(root, osfs.WithBoundOS())
	t := apply.NewTarget(root, fs, logger.Writer{W: os.Stdout, Prefix: "bos-config: "})
	t.Live = true // the initrd's kernel is the system's: act on it
	load := func() (apply.Input, error) {
		l, err := config.Load(config.Options{Root: root, FS: fs})
		if err != nil {
			return apply.Input{}, err
		}
		l.Report(os.Stdout)
		cfg := l.Config
		return apply.Input{Config: &cfg}, nil
	}
	err := apply.Apply(ctx, t, apply.Options{Phase: apply.Initrd, Version: version.Version, Load: load})
	fmt.Fprintf(os.Stdout, "bos: phase %s done\n", apply.Initrd)
	return err
}
