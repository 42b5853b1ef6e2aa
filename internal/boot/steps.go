package boot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pkg/errors"
	"golang.org/x/sys/unix"
)

// Step is one action of the boot.
type Step interface {
	String() string
	Apply(ctx context.Context, b *Boot) error
}

// Required marks a step whose failure stops the boot.
type Required struct{ Step }

// IsRequired tells whether a step must succeed.
func IsRequired(s Step) bool { _, ok := s.(Required); return ok }

// StepError is a step that stopped the boot: a required one that failed,
// or any that panicked.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// mountStep mounts a file system, making the mount point first.
type mountStep struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
}

func (s mountStep) String() string {
	var opts []string
	if s.flags&unix.MS_RDONLY != 0 {
		opts = append(opts, "ro")
	}
	if s.data != "" {
		opts = append(opts, s.data)
	}
	o := ""
	if len(opts) > 0 {
		o = " " + strings.Join(opts, ",")
	}
	return fmt.Sprintf("mount %s on %s (%s%s)", s.source, s.target, s.fstype, o)
}

func (s mountStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.target), 0o755); err != nil {
		return err
	}
	src := s.source
	if strings.HasPrefix(src, "/") {
		src = b.path(src)
	}
	return errors.Wrapf(b.Sys.Mount(src, b.path(s.target), s.fstype, s.flags, s.data), "mount %s on %s (%s)", s.source, s.target, s.fstype)
}

// loopMountStep mounts an image file (squashfs, an ISO) read-only through a
// loop device.
type loopMountStep struct{ file, target, fstype string }

func (s loopMountStep) String() string {
	return fmt.Sprintf("mount %s on %s (%s, loop, ro)", s.file, s.target, s.fstype)
}

func (s loopMountStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Stat(b.path(s.file)); err != nil {
		return err
	}
	if err := os.MkdirAll(b.path(s.target), 0o755); err != nil {
		return err
	}
	dev, release, err := b.Sys.AttachLoop(b.path(s.file))
	if err != nil {
		return errors.Wrapf(err, "loop device for %s", s.file)
	}
	defer release()
	return errors.Wrapf(b.Sys.Mount(dev, b.path(s.target), s.fstype, unix.MS_RDONLY, ""), "mount %s (%s) on %s", s.file, dev, s.target)
}

// bindStep binds a directory onto another, read-only if asked.
type bindStep struct {
	from, to string
	ro       bool
}

func (s bindStep) String() string {
	if s.ro {
		return fmt.Sprintf("bind %s on %s (ro)", s.from, s.to)
	}
	return fmt.Sprintf("bind %s on %s", s.from, s.to)
}

func (s bindStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.to), 0o755); err != nil {
		return err
	}
	if err := b.Sys.Mount(b.path(s.from), b.path(s.to), "", unix.MS_BIND, ""); err != nil {
		return errors.Wrapf(err, "bind %s on %s", s.from, s.to)
	}
	if !s.ro {
		return nil
	}
	return errors.Wrapf(b.Sys.Mount("", b.path(s.to), "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""), "remount %s read-only", s.to)
}

// mkdirStep makes a directory and its parents.
type mkdirStep struct {
	dir  string
	mode os.FileMode
}

func (s mkdirStep) String() string { return fmt.Sprintf("mkdir %s (%04o)", s.dir, s.mode) }

func (s mkdirStep) Apply(_ context.Context, b *Boot) error {
	if err := os.MkdirAll(b.path(s.dir), 0o755); err != nil {
		return err
	}
	return os.Chmod(b.path(s.dir), s.mode)
}

// skeletonStep makes the top level of the new root like the image's:
// the same directories (empty, same modes) and the same symlinks (the
// merged-usr bin, sbin, lib and /bhojpur -> bos).
type skeletonStep struct{ from, to string }

func (s skeletonStep) String() string {
	return fmt.Sprintf("make the top level of %s like %s", s.to, s.from)
}

func (s skeletonStep) Apply(_ context.Context, b *Boot) error {
	entries, err := os.ReadDir(b.path(s.from))
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := copyTopEntry(filepath.Join(b.path(s.from), e.Name()), filepath.Join(b.path(s.to), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyTopEntry makes dst like src: the same symlink, or an empty
// directory of the same mode; other files are left out.
func copyTopEntry(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil && !os.IsExist(err) {
			return err
		}
	case fi.IsDir():
		if err := os.Mkdir(dst, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		return os.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid))
	}
	return nil
}

// overlayStep makes a read-only directory writable: an overlay whose
// lower layer is the directory and whose changes go to a tmpfs (upper and
// work directories under rw). Unlike a copy it costs nothing at boot and
// keeps the image's time stamps (OpenRC's dependency cache relies on them).
type overlayStep struct{ lower, rw, target string }

// FSOverlay is overlayfs.
const FSOverlay = "overlay"

func (s overlayStep) String() string {
	return fmt.Sprintf("overlay %s on %s (changes in %s)", s.lower, s.target, s.rw)
}

func (s overlayStep) Apply(_ context.Context, b *Boot) error {
	upper, work := s.rw+"/upper", s.rw+"/work"
	for _, d := range []string{upper, work, s.target} {
		if err := os.MkdirAll(b.path(d), 0o755); err != nil {
			return err
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", b.path(s.lower), b.path(upper), b.path(work))
	return errors.Wrapf(b.Sys.Mount("overlay", b.path(s.target), FSOverlay, 0, data), "overlay %s on %s", s.lower, s.target)
}

// seedStep copies what the destination lacks from a tree: the image's
// /var, /home and /opt into a fresh tmpfs, or into the persistent ones of
// BOS_STATE without touching the files they keep.
type seedStep struct{ from, to string }

func (s seedStep) String() string { return fmt.Sprintf("seed %s from %s", s.to, s.from) }

func (s seedStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Lstat(b.path(s.from)); os.IsNotExist(err) {
		return nil
	}
	return copyTree(b.path(s.from), b.path(s.to))
}

// writeStep writes a file, rewriting what is there with edit (gokrazy-style
// func([]byte) []byte), or creating it with edit(nil).
type writeStep struct {
	file string
	what string
	mode os.FileMode
	edit func([]byte) []byte
}

func (s writeStep) String() string { return fmt.Sprintf("write %s (%s)", s.file, s.what) }

func (s writeStep) Apply(_ context.Context, b *Boot) error {
	p := b.path(s.file)
	old, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	mode := s.mode
	if fi, err := os.Stat(p); err == nil {
		mode = fi.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(p, s.edit(old), mode)
}

// funcStep is a step whose work is a method of Boot.
type funcStep struct {
	name string
	fn   func(b *Boot, ctx context.Context) error
}

func (s funcStep) String() string                           { return s.name }
func (s funcStep) Apply(ctx context.Context, b *Boot) error { return s.fn(b, ctx) }

// initrdPhaseStep runs the initrd config phase on the new root.
type initrdPhaseStep struct{ root string }

func (s initrdPhaseStep) String() string { return "config phase initrd on " + s.root }

func (s initrdPhaseStep) Apply(ctx context.Context, b *Boot) error {
	if b.Initrd == nil {
		b.debugf("config phase initrd: no apply entry point wired; skipped")
		return nil
	}
	return b.Initrd(ctx, b.path(s.root))
}

// switchRootStep hands over to the real init; it returns only on failure.
type switchRootStep struct{ root, init string }

func (s switchRootStep) String() string { return fmt.Sprintf("switch_root %s %s", s.root, s.init) }

func (s switchRootStep) Apply(_ context.Context, b *Boot) error {
	if _, err := os.Lstat(filepath.Join(b.path(s.root), s.init)); err != nil {
		return errors.Wrapf(err, "no %s in the new root", s.init)
	}
	b.logf("switch_root %s %s (mode %s)", s.root, s.init, b.Mode)
	return b.Sys.SwitchRoot(b.path(s.root), s.init)
}
